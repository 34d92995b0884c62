//! SPEC §2: every admin route needs `X-Tyk-Authorization`; auth runs before method checks.

use crate::common::{ADMIN_HEADER, ADMIN_SECRET, FEED_TOKEN, FORBIDDEN_BODY, TestShim, send};
use reqwest::Method;

/// Every admin route and method, including ones the route does not support.
fn admin_calls() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/tyk/certs"),
        (Method::POST, "/tyk/certs"),
        (Method::GET, "/tyk/certs?mode=detailed"),
        (Method::GET, "/tyk/certs/abc"),
        (Method::GET, "/tyk/certs/abc,def"),
        (Method::DELETE, "/tyk/certs/abc"),
        (Method::POST, "/tyk/keys/create"),
        (Method::GET, "/tyk/keys/abc"),
        (Method::PUT, "/tyk/keys/abc"),
        (Method::DELETE, "/tyk/keys/abc"),
        (Method::PATCH, "/tyk/certs"),
        (Method::PUT, "/tyk/certs/abc"),
        (Method::GET, "/tyk/keys/create"),
        (Method::POST, "/tyk/keys/abc"),
    ]
}

#[tokio::test]
async fn missing_or_wrong_admin_secret_is_403_on_every_admin_route() {
    let shim = TestShim::start().await;
    let bearer_admin = format!("Bearer {ADMIN_SECRET}");
    let credentials: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![(ADMIN_HEADER, "wrong")],
        vec![(ADMIN_HEADER, "")],
        vec![(ADMIN_HEADER, &ADMIN_SECRET[..ADMIN_SECRET.len() - 1])],
        vec![(ADMIN_HEADER, FEED_TOKEN)],
        vec![("Authorization", &bearer_admin)],
    ];
    for (method, path) in admin_calls() {
        for headers in &credentials {
            let answer = send(
                method.clone(),
                &shim.url(path),
                headers,
                Some(b"{}".to_vec()),
            )
            .await;
            assert_eq!(
                answer.status, 403,
                "{method} {path} with {headers:?}: {}",
                answer.text
            );
            assert_eq!(answer.text, FORBIDDEN_BODY);
            assert!(answer.content_type.starts_with("application/json"));
        }
    }
}

#[tokio::test]
async fn unsupported_methods_with_the_secret_are_405() {
    let shim = TestShim::start().await;
    for (method, path) in [
        (Method::PATCH, "/tyk/certs"),
        (Method::PUT, "/tyk/certs/abc"),
        (Method::GET, "/tyk/keys/create"),
        (Method::PATCH, "/tyk/keys/abc"),
    ] {
        shim.admin(method, path, None)
            .await
            .assert_error(405, "Method not supported");
    }
}

#[tokio::test]
async fn the_right_secret_opens_every_admin_route() {
    let shim = TestShim::start().await;
    for (method, path) in admin_calls().into_iter().take(10) {
        let answer = shim.admin(method.clone(), path, Some("{}")).await;
        assert_ne!(answer.text, FORBIDDEN_BODY, "{method} {path}");
    }
}

/// SPEC §2: the secret is checked before routing, so without it no `/tyk` path, known or not,
/// tells whether it exists; with it, an unknown one is 404 JSON.
#[tokio::test]
async fn unknown_tyk_routes_need_the_secret_before_they_are_404() {
    let shim = TestShim::start().await;
    let unknown = [
        (Method::GET, "/tyk"),
        (Method::GET, "/tyk/"),
        (Method::GET, "/tyk/nothing"),
        (Method::POST, "/tyk/nothing/at/all"),
        (Method::DELETE, "/tyk/apis/abc"),
        (Method::GET, "/tyk//certs"),
        (Method::PATCH, "/tyk/reload"),
        (Method::OPTIONS, "/tyk/keys/x/y"),
    ];
    for (method, path) in &unknown {
        for headers in [vec![], vec![(ADMIN_HEADER, "wrong")]] {
            let answer = send(method.clone(), &shim.url(path), &headers, None).await;
            assert_eq!(
                answer.status, 403,
                "{method} {path} {headers:?}: {}",
                answer.text
            );
            assert_eq!(answer.text, FORBIDDEN_BODY, "{method} {path}");
            assert!(answer.content_type.starts_with("application/json"));
        }
        shim.admin(method.clone(), path, None)
            .await
            .assert_error(404, "Not found");
    }
    // Outside /tyk nothing changes: unknown paths are 404 without any credential.
    for path in ["/tykfoo", "/nothing", "/%74yk/certs"] {
        send(Method::GET, &shim.url(path), &[], None)
            .await
            .assert_error(404, "Not found");
    }
}
