export { createLogger, readLoggingConfig, type Logger, type RootLogger } from './logger.js';
