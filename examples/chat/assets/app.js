// The chat page: plain JavaScript on the swill TypeScript client (swill-client.js, a bundle
// of clients/typescript built by `npm run bundle`). It speaks to the chat API at /ws on the
// server that served it.
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
//                   that reaches this page)
//   messages        the message list: `message` items with data-from=NICK, holding
//                   `message-from` and `message-text`; `notice` items for joins and leaves
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
/** Retry a room whose streams ended with 503 (the server's pub/sub backend hiccuped). */
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
/** The open room: its name and the controller that cancels its streams. */
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

function addNotice(text) {
	const list = $("messages");
	list.append(el("li", { "data-testid": "notice", class: "notice" }, text));
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

/** Reads one of the room's streams until it ends; a 503 (not a lost connection) retries. */
async function consume(session, stream, onItem) {
	try {
		for await (const item of stream) {
			if (current !== session) return;
			onItem(item);
		}
	} catch (error) {
		if (current !== session || session.controller.signal.aborted) return;
		if (error instanceof SwillError && error.code === Code.UNAVAILABLE) {
			// A lost connection re-enters the room on `connected`; a backend hiccup retries.
			if (client.state === "open") setTimeout(() => current === session && enterRoom(session.room), ROOM_RETRY_MS);
			return;
		}
		showError(error);
	}
}

/** Opens `room`: its messages (which makes this page present there), members and typists. */
function enterRoom(room) {
	current?.controller.abort();
	const session = { room, controller: new AbortController() };
	current = session;
	const title = $("room-title");
	title.textContent = `# ${room}`;
	title.dataset.room = room;
	title.dataset.ready = "false";
	$("messages").replaceChildren();
	renderMembers([]);
	typists.clear();
	renderTyping();
	showError("");
	for (const link of document.querySelectorAll('[data-testid="room"]')) {
		if (link.dataset.room === room) link.setAttribute("aria-current", "true");
		else link.removeAttribute("aria-current");
	}
	if (client.state !== "open") return;

	const options = { signal: session.controller.signal };
	const request = { room };
	const messages = client.stream("join", request, options);
	const presence = client.stream("presence", request, options);
	const typing = client.stream("typing_notices", request, options);
	Promise.all([messages.leading, presence.leading, typing.leading]).then((leads) => {
		if (current === session && leads.every((md) => md && "subscribed" in md)) {
			title.dataset.ready = "true";
			refreshRooms();
		}
	});
	consume(session, messages, addMessage);
	consume(session, presence, (update) => {
		renderMembers(update.members);
		if (update.event === "join" && update.nick !== myNick) addNotice(`${update.nick} joined`);
		if (update.event === "leave" && !update.members.includes(update.nick)) {
			addNotice(`${update.nick} left`);
			typists.delete(update.nick);
			renderTyping();
		}
	});
	consume(session, typing, (notice) => {
		if (notice.from === myNick) return;
		typists.set(notice.from, Date.now() + TYPING_SHOW_MS);
		renderTyping();
	});
}

async function onConnected() {
	setStatus("open", "online");
	try {
		myNick = (await client.call("me", null)).nick;
		$("nick-input").value = myNick;
	} catch (error) {
		showError(error);
	}
	enterRoom(roomFromHash());
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
