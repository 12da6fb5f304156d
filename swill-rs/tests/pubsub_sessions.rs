//! Sessions over real sockets (in-process store): identified by the upgrade's cookie or
//! query parameter, typed data read and written by handlers, surviving a reconnect.
mod common;

use common::*;
use swill::client::Client;
use swill::pubsub::Sessions;
use swill::{Connection, Error, Request, State, Swill};

/// Appends an item to the session's cart; answers the cart.
#[swill::handler]
async fn cart_add(
    req: Request<String>,
    conn: Connection,
    State(sessions): State<Sessions>,
) -> Result<Vec<String>, Error> {
    let session = sessions.of(&conn)?;
    let mut cart: Vec<String> = session.get("cart").await?.unwrap_or_default();
    cart.push(req.into_data());
    session.set("cart", &cart).await?;
    Ok(cart)
}

/// The session's cart.
#[swill::handler(name = "cart")]
async fn show_cart(
    conn: Connection,
    State(sessions): State<Sessions>,
) -> Result<Vec<String>, Error> {
    Ok(sessions.of(&conn)?.get("cart").await?.unwrap_or_default())
}

/// Ends the session.
#[swill::handler]
async fn logout(conn: Connection, State(sessions): State<Sessions>) -> Result<(), Error> {
    sessions.of(&conn)?.clear().await
}

fn app(sessions: Sessions) -> Swill {
    Swill::new()
        .with_state(sessions)
        .handler(cart_add)
        .handler(show_cart)
        .handler(logout)
}

async fn with_cookie(server: &TestServer, cookie: &str) -> Client {
    Client::builder(server.url())
        .header("cookie", cookie)
        .connect()
        .with_timeout()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_survives_a_reconnect_and_is_keyed_by_cookie_or_query() {
    let server = spawn(app(Sessions::new())).await;
    let id = Sessions::new_id();
    let c = with_cookie(&server, &format!("theme=dark; swill_session={id}")).await;
    let _: Vec<String> = c.call("cart_add", &"apple").with_timeout().await.unwrap();
    let cart: Vec<String> = c.call("cart_add", &"pear").with_timeout().await.unwrap();
    assert_eq!(cart, ["apple", "pear"]);
    drop(c);

    // A new connection with the same cookie sees the data; the query parameter works too.
    let again = with_cookie(&server, &format!("swill_session={id}")).await;
    let cart: Vec<String> = again.call("cart", &()).with_timeout().await.unwrap();
    assert_eq!(cart, ["apple", "pear"]);
    let by_query = Client::connect(format!("{}?session={id}", server.url()))
        .with_timeout()
        .await
        .unwrap();
    let cart: Vec<String> = by_query.call("cart", &()).with_timeout().await.unwrap();
    assert_eq!(cart, ["apple", "pear"]);

    // Another session is separate; no session id is 401.
    let other = with_cookie(&server, "swill_session=someone-else").await;
    let cart: Vec<String> = other.call("cart", &()).with_timeout().await.unwrap();
    assert!(cart.is_empty());
    let anonymous = Client::connect(server.url()).with_timeout().await.unwrap();
    let e = anonymous
        .call::<Vec<String>>("cart", &())
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(401));
    let long = with_cookie(&server, &format!("swill_session={}", "x".repeat(200))).await;
    let e = long
        .call::<Vec<String>>("cart", &())
        .with_timeout()
        .await
        .unwrap_err();
    assert_eq!(e.rpc().map(|e| e.code().as_i64()), Some(400));

    // Logging out clears it for every connection of the session.
    let _: () = again.call("logout", &()).with_timeout().await.unwrap();
    let cart: Vec<String> = by_query.call("cart", &()).with_timeout().await.unwrap();
    assert!(cart.is_empty());
    drop((again, by_query, other, anonymous, long));
    server.stop().await;
}
