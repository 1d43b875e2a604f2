//! Private previews over real sockets (protocol v2 "Private previews").

mod gateway_util;

use futures_util::{SinkExt, StreamExt};
use gateway_util::*;
use sandport::engine::{ExposeOptions, Visibility};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn expose_private(env: &Env, port: u16) -> String {
    let e = env
        .engine
        .expose_port_with(
            port,
            ExposeOptions {
                visibility: Some(Visibility::Private),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(e.visibility, Visibility::Private);
    host_of(&e.url)
}

/// `/_sandport/login?…` of a login link, and its host.
fn login_path(env: &Env, port: u16, next: Option<&str>) -> (String, String) {
    let link = env.engine.create_login_link(port, next).unwrap();
    let rest = link.url.split("://").nth(1).unwrap();
    let i = rest.find('/').unwrap();
    (rest[..i].to_string(), rest[i..].to_string())
}

/// Logs in with a fresh link; the cookie pair (`sandport_auth=…`).
async fn login(env: &Env, port: u16) -> String {
    let (host, path) = login_path(env, port, None);
    let r = get(env.addr(), &host, &path).await;
    assert_eq!(r.status, 303);
    set_cookie_pair(&r)
}

fn set_cookie_pair(r: &Reply) -> String {
    let c = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    c.split(';').next().unwrap().to_string()
}

fn code(r: &Reply) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn private_without_credential_is_401_html_for_browsers_json_otherwise() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let r = get(env.addr(), &host, "/api/hello").await;
    assert_eq!(r.status, 401);
    assert_eq!(code(&r), "PREVIEW_PRIVATE");
    assert_eq!(r.headers["content-type"], "application/json");
    let r = get_with(
        env.addr(),
        &host,
        "/",
        &[(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = String::from_utf8_lossy(&r.body);
    assert!(
        page.contains("private") && page.contains("editor"),
        "{page}"
    );
    // A wrong token is still the v1 404, private or not.
    let wrong = host.replacen('-', "-x", 2);
    let r = get(env.addr(), &wrong, "/api/hello").await;
    assert_eq!(r.status, 404);
    assert_eq!(code(&r), "INVALID_TOKEN");
    // Public (the default) needs nothing.
    let (p2, _) = upstream().await;
    let h2 = env.expose(p2, None);
    assert_eq!(get(env.addr(), &h2, "/api/hello").await.status, 200);
}

#[tokio::test]
async fn key_and_cookie_admit_and_the_service_sees_neither() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let key = env.engine.session_key();
    let r = get_with(
        env.addr(),
        &host,
        "/headers",
        &[("x-sandport-key", &key), ("cookie", "theirs=1")],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(seen.get("x-sandport-key").is_none(), "{seen}");
    assert_eq!(seen["cookie"], "theirs=1");
    let bad = get_with(
        env.addr(),
        &host,
        "/headers",
        &[("x-sandport-key", "not-the-key")],
    )
    .await;
    assert_eq!(bad.status, 401);

    let pair = login(&env, port).await;
    let cookie = format!("a=1; {pair}; b=2");
    let r = get_with(env.addr(), &host, "/headers", &[("cookie", &cookie)]).await;
    assert_eq!(r.status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen["cookie"], "a=1; b=2", "our cookie is taken out");
    let only = get_with(env.addr(), &host, "/headers", &[("cookie", &pair)]).await;
    assert_eq!(only.status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&only.body).unwrap();
    assert!(seen.get("cookie").is_none(), "{seen}");
    // A forged value is refused.
    let forged = get_with(
        env.addr(),
        &host,
        "/",
        &[(
            "cookie",
            "sandport_auth=0123456789abcdef0123456789abcdef01234567abcd",
        )],
    )
    .await;
    assert_eq!(forged.status, 401);
}

#[tokio::test]
async fn login_link_works_once_with_its_cookie_attributes_and_next() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let (h, path) = login_path(&env, port, Some("/api/hello?x=1"));
    assert_eq!(h, host);
    let r = get(env.addr(), &host, &path).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.headers["location"], "/api/hello?x=1");
    let c = r.headers["set-cookie"].to_str().unwrap();
    assert!(c.starts_with("sandport_auth="), "{c}");
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    assert!(!c.to_ascii_lowercase().contains("domain"), "host-only: {c}");
    assert!(!c.contains("Secure"), "plain HTTP: {c}");
    // Used: 401 and nothing set.
    let again = get(env.addr(), &host, &path).await;
    assert_eq!(again.status, 401);
    assert_eq!(code(&again), "PREVIEW_PRIVATE");
    assert!(again.headers.get("set-cookie").is_none());
    // A made-up ticket, and one of another preview, are refused too.
    let r = get(env.addr(), &host, "/_sandport/login?ticket=abc").await;
    assert_eq!(r.status, 401);
    let (p2, _) = upstream().await;
    let h2 = expose_private(&env, p2);
    let (_, other) = login_path(&env, p2, None);
    assert_eq!(get(env.addr(), &host, &other).await.status, 401);
    // …and that ticket still works on its own preview (nothing was used up).
    assert_eq!(get(env.addr(), &h2, &other).await.status, 303);
    // `next` must stay on the host.
    assert!(env
        .engine
        .create_login_link(port, Some("//evil.example/"))
        .is_err());
    assert!(env
        .engine
        .create_login_link(port, Some("http://evil/"))
        .is_err());
    assert!(
        env.engine.create_login_link(1234, None).is_err(),
        "not exposed"
    );
}

#[tokio::test]
async fn login_link_expires_after_60_seconds() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let (_, path) = login_path(&env, port, None);
    tokio::time::sleep(Duration::from_millis(60_500)).await;
    let r = get(env.addr(), &host, &path).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn cookie_of_one_preview_is_refused_by_another() {
    let env = Env::new().await;
    let (p1, _) = upstream().await;
    let (p2, _) = upstream().await;
    let h1 = expose_private(&env, p1);
    let h2 = expose_private(&env, p2);
    let pair = login(&env, p1).await;
    let ok = get_with(env.addr(), &h1, "/api/hello", &[("cookie", &pair)]).await;
    assert_eq!(ok.status, 200);
    let no = get_with(env.addr(), &h2, "/api/hello", &[("cookie", &pair)]).await;
    assert_eq!(no.status, 401);
}

#[tokio::test]
async fn websocket_upgrades_need_the_cookie_too() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let err = ws_connect(env.addr(), &host, "/ws", &[]).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 401),
        e => panic!("expected a 401, got {e}"),
    }
    let pair = login(&env, port).await;
    let mut ws = ws_connect(env.addr(), &host, "/ws", &[("cookie", &pair)])
        .await
        .unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.into_text().unwrap().as_str(), "hi");
}

#[tokio::test]
async fn preflight_from_a_sibling_preview_passes_from_another_origin_not() {
    let env = Env::new().await;
    let (api, _) = upstream().await;
    let (web, _) = upstream().await;
    let api_host = expose_private(&env, api);
    let web_host = env.expose(web, None);
    let preflight = |origin: String| {
        let api_host = api_host.clone();
        let addr = env.addr();
        async move {
            request(
                addr,
                &api_host,
                "OPTIONS",
                "/api/hello",
                &[
                    ("origin", &origin),
                    ("access-control-request-method", "POST"),
                ],
                full(""),
            )
            .await
        }
    };
    // Passed to the service (which answers /api/hello whatever the method).
    let r = preflight(format!("http://{web_host}")).await;
    assert_eq!(r.status, 200, "sibling preflight must reach the service");
    assert!(String::from_utf8_lossy(&r.body).contains("Hello"));
    let r = preflight("http://evil.example".into()).await;
    assert_eq!(r.status, 401);
    let gw_port = env.addr().port();
    let r = preflight(format!("http://{}-box-zzzz.localhost:{gw_port}", web)).await;
    assert_eq!(r.status, 401, "a wrong token is not a sibling");
    let r = preflight(format!("http://{web_host}.evil.example")).await;
    assert_eq!(
        r.status, 401,
        "a sibling's label on another domain is not one"
    );
    // Without Access-Control-Request-Method it is no preflight.
    let r = request(
        env.addr(),
        &api_host,
        "OPTIONS",
        "/",
        &[("origin", &format!("http://{web_host}"))],
        full(""),
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn rotation_and_close_kill_cookies() {
    let env = Env::new().await;
    let (port, _) = upstream().await;
    let host = expose_private(&env, port);
    let pair = login(&env, port).await;
    let (_, unused) = login_path(&env, port, None);
    let ok = get_with(env.addr(), &host, "/api/hello", &[("cookie", &pair)]).await;
    assert_eq!(ok.status, 200);
    // Rotation: a new URL, and the old cookie and tickets do not work on it.
    let e = env
        .engine
        .expose_port(port, None, Some("rotated1".into()), None)
        .unwrap();
    assert_eq!(e.visibility, Visibility::Private, "visibility is kept");
    let new_host = host_of(&e.url);
    let r = get_with(env.addr(), &new_host, "/api/hello", &[("cookie", &pair)]).await;
    assert_eq!(r.status, 401);
    assert_eq!(get(env.addr(), &new_host, &unused).await.status, 401);
    // Close, then expose again with the same token: still a new cookie.
    let pair2 = login(&env, port).await;
    env.engine.close_port(port);
    let e = env
        .engine
        .expose_port_with(
            port,
            ExposeOptions {
                token: Some("rotated1".into()),
                visibility: Some(Visibility::Private),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(host_of(&e.url), new_host);
    let r = get_with(env.addr(), &new_host, "/api/hello", &[("cookie", &pair2)]).await;
    assert_eq!(r.status, 401);
    // Making it public opens it; private again closes it.
    env.engine
        .expose_port_with(
            port,
            ExposeOptions {
                visibility: Some(Visibility::Public),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(get(env.addr(), &new_host, "/api/hello").await.status, 200);
}
