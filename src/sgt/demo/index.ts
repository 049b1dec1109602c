export { DEMO_DEFAULTS, buildDemoSgt, defaultDemoNoiseScale, ensureDemoSgt, type BuildDemoOptions } from './build.js';
