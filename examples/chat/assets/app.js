// The chat page: plain JavaScript on the swill TypeScript client (swill-client.js, a bundle
// of clients/typescript built by `npm run bundle`). It speaks to the chat API at /ws on the
// server that served it.
//
// A room's message stream (`join`) is resumable: when the connection drops, the client
// resumes it by itself once it reconnects (to this server or, with Redis, another instance),
// and the page appends exactly the messages it missed; the list is never rebuilt. Only when
// the server cannot replay them (`recovered: false`: it restarted without Redis, or too much
// was missed) is the room view reloaded, with a notice. Presence and typing streams are not
// resumable; they are opened again after a reconnect.
//
// Test contract (data-testid attributes the browser tests rely on; keep them stable):
//   status          connection state: attribute data-state is "connecting", "open",
//                   "reconnecting" or "closed"; the text says it for people
//   nick-form       the nickname form; nick-input its field (holds the current nickname once
//                   the server told it), nick-save its button
//   rooms           the room list; each entry is a `room` link with data-room=NAME and
//                   aria-current="true" on the open room; `room-count` inside it is the
//                   number of members
//   new-room-form   joins (creating) the room typed into new-room-input
//   room-title      the open room: data-room=NAME, and data-ready="true" once its message,
//                   presence and typing streams are all subscribed (a message sent after
//                   that reaches this page); "false" from a lost connection until they are
//                   back (the message stream resumed). data-resumes=N: how many times the
//                   message stream continued after a cut with nothing missed (the list was
//                   kept and the missed messages appended)
//   messages        the message list: `message` items with data-from=NICK, holding
//                   `message-from` and `message-text`, oldest first (a fresh room view
//                   starts with the room's latest messages); `notice` items with data-kind
//                   "join" or "leave", and "gap" first in a room view reloaded because
//                   messages were missed while the connection was down
//   typing          who is typing ("alice is typing…"), empty when nobody is
//   members         the member list of the open room: `member` items with data-nick=NICK
//   composer        the message form; message-input its field, send its button
//   error           the last error worth showing, empty when there is none

import { Code, createClient, SwillError } from "/swill-client.js";

/** Send a typing notice at most this often while the message field changes. */
const TYPING_SEND_INTERVAL_MS = 2000;
/** Show someone as typing for this long after their last notice. */
const TYPING_SHOW_MS = 4000;
/** Refresh the room list (member counts, rooms created elsewhere) this often. */
const ROOMS_REFRESH_MS = 10000;
/**
 * Open a room's stream again this long after it ended while connected (the server closed
 * it, or answered 503 because its pub/sub backend hiccuped); after a lost connection they
 * are opened as soon as it is back.
 */
const ROOM_RETRY_MS = 1000;
const DEFAULT_ROOM = "lobby";
const ROOM_NAME = /^[a-z0-9_-]{1,32}$/;

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const el = (tag, attrs = {}, text = "") => {
	const node = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
	if (text) node.textContent = text;
	return node;
};

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = createClient({ url: wsUrl, reconnect: { maxDelayMs: 5000 } });

let myNick = "";
/** The open room and its streams (see enterRoom). */
let current = null;
/** nick -> when their typing notice expires (ms). */
const typists = new Map();
let typingTimer = 0;
let lastTypingSent = 0;

function showError(error) {
	let text = "";
	if (error instanceof SwillError) {
		const fields = error.fieldErrors ? Object.values(error.fieldErrors).flat() : [];
		text = fields.length > 0 ? fields.map((f) => f.message).join("; ") : error.message;
	} else if (error) {
		text = String(error);
	}
	$("error").textContent = text;
}

function setStatus(state, text) {
	const status = $("status");
	status.dataset.state = state;
	status.textContent = text;
}

function roomFromHash() {
	const name = new URLSearchParams(location.hash.slice(1)).get("room") ?? "";
	return ROOM_NAME.test(name) ? name : DEFAULT_ROOM;
}

function timeOf(ms) {
	return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function scrollDown(list) {
	list.scrollTop = list.scrollHeight;
}

function addMessage(m) {
	const list = $("messages");
	const item = el("li", { "data-testid": "message", "data-from": m.from });
	if (m.from === myNick) item.classList.add("mine");
	item.append(
		el("span", { class: "at" }, timeOf(m.at)),
		el("span", { class: "from", "data-testid": "message-from" }, m.from),
		el("span", { class: "text", "data-testid": "message-text" }, m.text),
	);
	list.append(item);
	scrollDown(list);
	typists.delete(m.from);
	renderTyping();
}

function addNotice(text, kind) {
	const list = $("messages");
	list.append(el("li", { "data-testid": "notice", "data-kind": kind, class: `notice ${kind}` }, text));
	scrollDown(list);
}

function renderMembers(members) {
	const list = $("members");
	list.replaceChildren(
		...members.map((nick) => {
			const item = el("li", { "data-testid": "member", "data-nick": nick }, nick);
			if (nick === myNick) item.classList.add("me");
			return item;
		}),
	);
}

function renderTyping() {
	clearTimeout(typingTimer);
	const now = Date.now();
	for (const [nick, until] of typists) if (until <= now) typists.delete(nick);
	const names = [...typists.keys()].sort();
	$("typing").textContent =
		names.length === 0
			? ""
			: names.length === 1
				? `${names[0]} is typing…`
				: `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
	if (typists.size > 0) {
		const next = Math.min(...typists.values());
		typingTimer = setTimeout(renderTyping, Math.max(50, next - now));
	}
}

function renderRooms(rooms) {
	const list = $("rooms");
	const names = rooms.map((r) => r.name);
	if (current && !names.includes(current.room)) rooms.push({ name: current.room, members: 0 });
	list.replaceChildren(
		...rooms.map((r) => {
			const link = el("a", {
				href: `#room=${r.name}`,
				"data-testid": "room",
				"data-room": r.name,
			});
			if (current?.room === r.name) link.setAttribute("aria-current", "true");
			link.append(
				el("span", {}, `# ${r.name}`),
				el("span", { class: "count", "data-testid": "room-count" }, String(r.members)),
			);
			const item = el("li");
			item.append(link);
			return item;
		}),
	);
}

async function refreshRooms() {
	if (client.state !== "open") return;
	try {
		renderRooms(await client.call("rooms", null));
	} catch (error) {
		if (!(error instanceof SwillError && error.code === Code.UNAVAILABLE)) showError(error);
	}
}

/**
 * Reads one of the room's streams until it ends; resolves with the error it ended with
 * (undefined when it ended cleanly). Items of a room left meanwhile are dropped.
 */
async function consume(session, stream, onItem) {
	try {
		for await (const item of stream) {
			if (current !== session) return undefined;
			onItem(item);
		}
		return undefined;
	} catch (error) {
		return error;
	}
}

/** Whether a stream that ended with `error` should be opened again (rather than reported). */
function retriable(error) {
	return error === undefined || (error instanceof SwillError && error.code === Code.UNAVAILABLE);
}

/** The room's streams ended (not by leaving it): report the error, or open them again. */
function streamEnded(session, error) {
	$("room-title").dataset.ready = "false";
	if (!retriable(error)) {
		showError(error);
		return;
	}
	// Right away once connected again (`connected`), or after a pause while connected (the
	// server closed the stream, or its pub/sub backend hiccuped).
	setTimeout(() => openRoom(session), ROOM_RETRY_MS);
}

/**
 * Opens the room's message stream. The first time, a fresh `join`: the room's latest
 * messages, then the live ones. When a previous stream of this room ended, `join` with
 * `since` its last position: exactly the messages after the ones shown. While the connection
 * is merely lost, the client resumes the stream by itself (`onResumed`).
 */
function openMessages(session) {
	const since = session.position;
	const messages = client.stream(
		"join",
		{ room: session.room },
		{
			signal: session.controller.signal,
			since,
			onResumed: (event) => resumed(session, messages, event),
		},
	);
	session.messages = messages;
	session.messagesReady = messages.leading.then((md) => {
		if (current !== session || session.messages !== messages || !("subscribed" in md)) {
			return undefined;
		}
		if (since === undefined) return md;
		if (md.recovered === true) {
			caughtUp(session);
			return md;
		}
		missed(session);
		return undefined;
	});
	messages.on("interrupted", () => {
		if (current !== session || session.messages !== messages) return;
		// Ready again once the resumed stream is there (`resumed`), with presence and typing.
		$("room-title").dataset.ready = "false";
		session.messagesReady = new Promise((resolve) => {
			session.resolveResumed = resolve;
		});
		whenReady(session);
	});
	consume(session, messages, addMessage).then((error) => {
		if (current !== session || session.messages !== messages) return;
		session.messages = undefined;
		session.position = messages.position ?? session.position;
		streamEnded(session, error);
	});
}

/** The client resumed the room's message stream after a reconnect (or a lag). */
function resumed(session, messages, event) {
	if (current !== session || session.messages !== messages) return;
	if (!event.recovered) {
		missed(session);
		return;
	}
	caughtUp(session);
	session.resolveResumed?.(event.leading);
}

/** The message stream continued where it stopped: the list is complete. */
function caughtUp(session) {
	session.resumes += 1;
	$("room-title").dataset.resumes = String(session.resumes);
}

/** Messages were lost while the stream was down: reload the room view, and say so. */
function missed(session) {
	if (current === session) enterRoom(session.room, { gap: true });
}

/** Opens the room's presence and typing streams (they do not resume: they are reopened). */
function openAux(session) {
	const aux = new AbortController();
	const abort = () => aux.abort();
	session.controller.signal.addEventListener("abort", abort, { once: true });
	const options = { signal: aux.signal };
	const request = { room: session.room };
	const presence = client.stream("presence", request, options);
	const typing = client.stream("typing_notices", request, options);
	session.aux = aux;
	session.auxReady = Promise.all([presence.leading, typing.leading]);
	const ended = (error) => {
		if (current !== session || session.aux !== aux) return;
		session.aux = undefined;
		session.controller.signal.removeEventListener("abort", abort);
		aux.abort();
		streamEnded(session, error);
	};
	consume(session, presence, (update) => {
		renderMembers(update.members);
		if (update.event === "join" && update.nick !== myNick) addNotice(`${update.nick} joined`, "join");
		if (update.event === "leave" && !update.members.includes(update.nick)) {
			addNotice(`${update.nick} left`, "leave");
			typists.delete(update.nick);
			renderTyping();
		}
	}).then(ended);
	consume(session, typing, (notice) => {
		if (notice.from === myNick) return;
		typists.set(notice.from, Date.now() + TYPING_SHOW_MS);
		renderTyping();
	}).then(ended);
}

/** Marks the room ready once its message, presence and typing streams are all subscribed. */
function whenReady(session) {
	const { messagesReady, auxReady } = session;
	if (messagesReady === undefined || auxReady === undefined) return;
	Promise.all([messagesReady, auxReady]).then(([lead, auxLeads]) => {
		const same =
			current === session &&
			session.messagesReady === messagesReady &&
			session.auxReady === auxReady;
		if (!same || client.state !== "open") return;
		if (![lead, ...auxLeads].every((md) => md && "subscribed" in md)) return;
		$("room-title").dataset.ready = "true";
		refreshRooms();
	});
}

/** Opens whichever of the room's streams are not running (when connected). */
function openRoom(session) {
	if (current !== session || client.state !== "open") return;
	if (session.messages === undefined) openMessages(session);
	if (session.aux === undefined) openAux(session);
	whenReady(session);
}

/**
 * Shows `room` afresh: an empty list filled by a fresh `join` (the room's latest messages,
 * then the live ones), its members and typists. `gap`: say that messages were missed.
 */
function enterRoom(room, { gap = false } = {}) {
	current?.controller.abort();
	const session = {
		room,
		/** Ends every stream of this room (leaving it). */
		controller: new AbortController(),
		/** The `join` stream while it runs; its last position once it ended. */
		messages: undefined,
		position: undefined,
		/** Resolves with the message stream's leading metadata (again after each resume). */
		messagesReady: undefined,
		resolveResumed: undefined,
		/** The controller of the presence and typing streams while they run. */
		aux: undefined,
		auxReady: undefined,
		/** Times the message stream continued after a cut with nothing missed. */
		resumes: 0,
	};
	current = session;
	const title = $("room-title");
	title.textContent = `# ${room}`;
	title.dataset.room = room;
	title.dataset.ready = "false";
	title.dataset.resumes = "0";
	$("messages").replaceChildren();
	if (gap) {
		addNotice(
			"Some messages were missed while the connection was down: showing the latest ones.",
			"gap",
		);
	}
	renderMembers([]);
	typists.clear();
	renderTyping();
	showError("");
	for (const link of document.querySelectorAll('[data-testid="room"]')) {
		if (link.dataset.room === room) link.setAttribute("aria-current", "true");
		else link.removeAttribute("aria-current");
	}
	openRoom(session);
}

async function onConnected() {
	setStatus("open", "online");
	try {
		myNick = (await client.call("me", null)).nick;
		$("nick-input").value = myNick;
	} catch (error) {
		showError(error);
	}
	const room = roomFromHash();
	// After a reconnect the list stays: the message stream resumes by itself (or reopens
	// after its last position), presence and typing are reopened.
	if (current?.room === room) openRoom(current);
	else enterRoom(room);
	refreshRooms();
}

client.on("connected", onConnected);
client.on("disconnected", () => {
	setStatus("reconnecting", "connection lost, reconnecting…");
	if (current) $("room-title").dataset.ready = "false";
});
client.on("reconnecting", (e) =>
	setStatus("reconnecting", `reconnecting (attempt ${e.attempt})…`),
);

$("nick-form").addEventListener("submit", async (event) => {
	event.preventDefault();
	const nick = $("nick-input").value.trim();
	try {
		myNick = (await client.call("set_nick", { nick })).nick;
		$("nick-input").value = myNick;
		showError("");
		// Presence entries carry the name they were made with: join again to show the new one.
		if (current) enterRoom(current.room);
	} catch (error) {
		showError(error);
	}
});

$("new-room-form").addEventListener("submit", (event) => {
	event.preventDefault();
	const input = $("new-room-input");
	const name = input.value.trim().toLowerCase();
	if (!ROOM_NAME.test(name)) {
		showError("a room name is 1 to 32 characters of a-z, 0-9, - and _");
		return;
	}
	input.value = "";
	location.hash = `room=${name}`;
});

window.addEventListener("hashchange", () => {
	const room = roomFromHash();
	if (room !== current?.room) enterRoom(room);
});

$("composer").addEventListener("submit", async (event) => {
	event.preventDefault();
	const input = $("message-input");
	const text = input.value;
	if (!current || text.trim() === "") return;
	try {
		await client.call("say", { room: current.room, text });
		input.value = "";
		lastTypingSent = 0;
		showError("");
	} catch (error) {
		showError(error);
	}
});

$("message-input").addEventListener("input", () => {
	const now = Date.now();
	if (!current || client.state !== "open" || now - lastTypingSent < TYPING_SEND_INTERVAL_MS) return;
	lastTypingSent = now;
	client.call("typing", { room: current.room }).catch(() => {});
});

setInterval(refreshRooms, ROOMS_REFRESH_MS);
client.connect().catch((error) => {
	setStatus("closed", "offline");
	showError(error);
});
