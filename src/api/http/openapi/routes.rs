//! The router's own route table, and its comparison with the document (the drift check
//! `tests/openapi.rs` runs in CI).
//!
//! axum keeps no public list of its routes, so the table is read from the router's `Debug`
//! output: `node.paths` maps each route id to its path (nested routers are flattened into
//! it) and `routes` maps the id to a `MethodRouter` naming each method's endpoint or
//! `None`. That output is not a stable API: the drift test therefore fails when
//! [`route_table`] finds no route (an axum upgrade that changes it fails the check loudly
//! rather than passing it empty), and it also probes every documented operation over HTTP,
//! which does not depend on this parsing at all. The alternative, building the router from
//! utoipa-axum's `OpenApiRouter`, would have reshaped every route line of `api/http` while
//! other work adds routes to the same lines.

use std::collections::BTreeMap;

/// Methods a route can document (HEAD follows GET in axum; OPTIONS, TRACE and CONNECT are
/// not used by the engine).
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// One routed path and the methods it serves (lower case, as OpenAPI spells them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub path: String,
    pub methods: Vec<String>,
}

/// The routes of `router` (its path router only: not the fallbacks); empty if axum's
/// `Debug` output cannot be read.
pub fn route_table<S>(router: &axum::Router<S>) -> Vec<RouteEntry> {
    let dump = format!("{router:?}");
    let main = dump.split("fallback_router:").next().unwrap_or_default();
    // Nothing readable: empty, which the drift test refuses (never a panic at start-up).
    let Some((routes_part, node_part)) = main.split_once("node: Node") else { return Vec::new() };
    let paths: BTreeMap<u64, String> = entries(node_part)
        .into_iter()
        .filter_map(|(id, rest)| {
            let rest = rest.strip_prefix('"')?;
            Some((id, rest[..rest.find('"')?].to_string()))
        })
        .collect();
    let mut table = Vec::new();
    for (id, rest) in entries(routes_part) {
        let Some(path) = paths.get(&id) else { continue };
        if path.contains("__private__axum") {
            continue;
        }
        let methods = if let Some(mr) = rest.strip_prefix("MethodRouter(MethodRouter {") {
            let body = &mr[..mr.find("allow_header").unwrap_or(mr.len())];
            METHODS
                .iter()
                .filter(|m| body.split(',').any(|f| f.trim().strip_prefix(&format!("{m}: ")).is_some_and(|v| !v.starts_with("None"))))
                .map(|m| m.to_string())
                .collect()
        } else {
            // A service without a method filter answers every method.
            METHODS.iter().map(|m| m.to_string()).collect()
        };
        table.push(RouteEntry { path: path.clone(), methods });
    }
    table.sort_by(|a, b| a.path.cmp(&b.path));
    table
}

/// `RouteId(N): <rest>` occurrences, with the text after each.
fn entries(s: &str) -> Vec<(u64, &str)> {
    s.match_indices("RouteId(")
        .filter_map(|(i, _)| {
            let after = &s[i + "RouteId(".len()..];
            let close = after.find(')')?;
            let id = after[..close].parse().ok()?;
            Some((id, after[close + 1..].strip_prefix(": ")?))
        })
        .collect()
}

/// `{anything}` → `{}`, so parameter names do not matter for matching.
fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every difference between the router and the document, one line each, naming the method
/// and path and what to do about it. Empty when they agree.
pub fn drift(routes: &[RouteEntry], doc: &utoipa::openapi::OpenApi) -> Vec<String> {
    let mut documented: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (path, item) in &doc.paths.paths {
        let methods = [("get", &item.get), ("post", &item.post), ("put", &item.put), ("delete", &item.delete), ("patch", &item.patch)]
            .into_iter()
            .filter(|(_, op)| op.is_some())
            .map(|(m, _)| m.to_string())
            .collect();
        documented.insert(shape(path), (path.clone(), methods));
    }
    let routed: BTreeMap<String, &RouteEntry> = routes.iter().map(|r| (shape(&r.path), r)).collect();
    let mut problems = Vec::new();
    for (key, r) in &routed {
        let have = documented.get(key).map(|(_, m)| m.as_slice()).unwrap_or(&[]);
        for m in &r.methods {
            if !have.contains(m) {
                problems.push(format!(
                    "{} {} is routed but not documented: add a #[utoipa::path({m}, path = \"{}\", …)] function to the area's file in src/api/http/openapi/ and list it in that file's paths(…)",
                    m.to_uppercase(),
                    r.path,
                    r.path
                ));
            }
        }
    }
    for (key, (path, methods)) in &documented {
        let have = routed.get(key).map(|r| r.methods.as_slice()).unwrap_or(&[]);
        for m in methods {
            if !have.contains(m) {
                problems.push(format!("{} {path} is documented but not routed: remove it from src/api/http/openapi/ or add the route", m.to_uppercase()));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_ignore_parameter_names() {
        assert_eq!(shape("/a/{id}/b/{credential_id}"), "/a/{}/b/{}");
        assert_eq!(shape("/r/{code}"), shape("/r/{c}"));
    }

    fn doc_with(path: &str, method: utoipa::openapi::HttpMethod) -> utoipa::openapi::OpenApi {
        use utoipa::openapi::path::{OperationBuilder, PathItem};
        let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
        doc.paths.paths.insert(path.into(), PathItem::new(method, OperationBuilder::new().build()));
        doc
    }

    #[test]
    fn drift_names_each_missing_side() {
        use utoipa::openapi::HttpMethod;
        let routes = vec![RouteEntry { path: "/x/{id}".into(), methods: vec!["get".into(), "post".into()] }];
        let problems = drift(&routes, &doc_with("/x/{xid}", HttpMethod::Get));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("POST /x/{id} is routed but not documented"), "{problems:?}");
        let problems = drift(&[], &doc_with("/y", HttpMethod::Delete));
        assert_eq!(problems, vec!["DELETE /y is documented but not routed: remove it from src/api/http/openapi/ or add the route".to_string()]);
        assert!(drift(&[RouteEntry { path: "/y".into(), methods: vec!["delete".into()] }], &doc_with("/y", HttpMethod::Delete)).is_empty());
    }

    #[test]
    fn reads_the_routers_table() {
        use axum::routing::{get, post};
        let inner: axum::Router = axum::Router::new().route("/b/{id}", get(|| async {}).delete(|| async {}));
        let router: axum::Router = axum::Router::new()
            .route("/a", post(|| async {}))
            .nest("/n", inner)
            .fallback(|| async {})
            .layer(tower_http::catch_panic::CatchPanicLayer::new());
        let table = route_table(&router);
        assert_eq!(
            table,
            vec![
                RouteEntry { path: "/a".into(), methods: vec!["post".into()] },
                RouteEntry { path: "/n/b/{id}".into(), methods: vec!["get".into(), "delete".into()] },
            ]
        );
    }
}
