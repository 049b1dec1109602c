export { createLogger, readLoggingConfig, loggingConfigSchema, type LoggingConfig, type Logger, type RootLogger } from './logger.js';
