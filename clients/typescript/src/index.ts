export type { ReconnectOptions } from "./backoff.js";
export { backoffDelay, DEFAULT_RECONNECT } from "./backoff.js";
export type {
	BidiStreamCall,
	CallHandle,
	CallOptions,
	ClientOptions,
	ClientStreamCall,
	RequestSender,
	ServerStreamCall,
	StreamingCallOptions,
	StreamOptions,
	SwillClient,
	UnaryCall,
} from "./client.js";
export { createClient, sendAll } from "./client.js";
export type {
	ConnectedEvent,
	ConnectionEvents,
	ConnectionState,
	DisconnectedEvent,
	ReconnectingEvent,
	WebSocketConstructor,
	WebSocketLike,
} from "./connection.js";
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_REFUSAL_BODY_BYTES } from "./connection.js";
export type { ErrorOrigin, SwillErrorOptions, UpgradeRefusedErrorOptions } from "./errors.js";
export { Code, SwillError, UpgradeRefusedError } from "./errors.js";
export type { Int64Mode } from "./protocol/codec.js";
export { DEFAULT_INT64_MODE } from "./protocol/codec.js";
export type { ErrorMap, Metadata, RequestFrame, ResponseFrame } from "./protocol/frames.js";
export {
	RequestType,
	ResponseType,
	SUBPROTOCOL,
	SUBPROTOCOL_TOKEN_SAFE,
} from "./protocol/frames.js";
export type {
	InterruptedEvent,
	ResumedEvent,
	ResumeOptions,
	StreamEvents,
	StreamPosition,
} from "./resume.js";
export { DEFAULT_MAX_RESUME_ATTEMPTS, DEFAULT_RESUME } from "./resume.js";
export type { TraceOptions } from "./trace.js";
export { isTraceparent, TRACEPARENT, TRACESTATE, traceMetadata } from "./trace.js";
