export { parseEnv, ConfigError, envSchema, type Env } from './config.js';
