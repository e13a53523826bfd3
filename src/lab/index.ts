// The namespace lab used by the demo, the e2e tests and the bench: one import for all of it.
export { Lab, listLabResources, sweepStaleLabs, validateSpec } from './netns.js';
export type { LabSpec, HostSpec, LinkSpec, LinkEnd, BridgeSpec, RouteSpec, OffloadSettings, DestroyReport, LabResources } from './netns.js';
export { buildGatewayLab, gatewayLabSpec, checkGatewayPlan, GATEWAY_PLAN } from './gateway.js';
export type { GatewayLab, GatewayHost, Endpoint } from './gateway.js';
export type { PingOptions, PingResult, TcpConnectOptions, TcpConnectResult, UdpSendOptions, UdpSendResult, EchoServer, Peer, Capture, CaptureResult } from './traffic.js';
export { LabProcess } from './process.js';
export { LabCommandError, missingTools } from './run.js';
export { readPcap, writePcap, decodePcap, encodePcap } from './pcap.js';
export type { PcapRecord, PcapFile } from './pcap.js';
