// The namespace lab as the demo, the e2e tests and the bench start one: a Lab, or the gateway or router lab
// built on it. Its other modules (traffic, pcap, names, run) are imported by path.
export { Lab } from './netns.js';
export { buildGatewayLab, type GatewayLab } from './gateway.js';
export { buildRouterLab, type RouterLab } from './router.js';
