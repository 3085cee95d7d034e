//! The event log as a client reads it (issue 13), for the writes of orders, loyalty, tiers,
//! segments and tenant settings, on SQLite and PostgreSQL: each write appears on the customer's
//! timeline (or in the audit search, for records without a customer) with its type, actor and
//! data, and another tenant never sees them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "email": format!("{}@example.co.id", name.to_lowercase())}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The customer's timeline, newest first, as `(type, entry)`.
async fn timeline(app: &TestApp, token: &str, c: &str) -> Vec<(String, Value)> {
    let r = app
        .get(&format!("/api/v1/customers/{c}/timeline?limit=200"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn of<'a>(events: &'a [(String, Value)], ty: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(t, _)| t == ty)
        .map(|(_, e)| e)
        .collect()
}

/// An order, its points and the tier it earns, a redemption and an adjustment: each on the
/// customer's timeline, by the caller, with its numbers.
async fn orders_points_and_tiers_reach_the_timeline(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let c = customer(&app, &admin, "Ana").await;
    let r = app
        .post(
            &format!("/api/v1/customers/{c}/orders"),
            &admin,
            json!({"order_ref": "POS-1", "total_amount": "2500000"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["id"].as_str().unwrap().to_owned();
    for (path, body) in [
        ("redeem", json!({"points": 10, "reason": "voucher"})),
        ("adjust", json!({"points": 7, "reason": "goodwill"})),
    ] {
        let r = app
            .post(
                &format!("/api/v1/customers/{c}/loyalty/{path}"),
                &admin,
                body,
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let events = timeline(&app, &admin, &c).await;
    let placed = of(&events, "order.placed");
    assert_eq!(placed.len(), 1, "{events:?}");
    assert_eq!(placed[0]["entity_type"], "order");
    assert_eq!(placed[0]["entity_id"], order.as_str());
    assert_eq!(placed[0]["customer_id"], c.as_str());
    assert_eq!(placed[0]["actor"]["role"], "admin");
    assert!(!placed[0]["summary"].as_str().unwrap().is_empty());
    assert_eq!(of(&events, "points.earned").len(), 1, "{events:?}");
    assert_eq!(of(&events, "points.redeemed").len(), 1, "{events:?}");
    assert_eq!(of(&events, "points.adjusted").len(), 1, "{events:?}");
    // 2,500,000 IDR reaches Silver (2,000,000).
    assert_eq!(of(&events, "tier.changed").len(), 1, "{events:?}");
    // Newest first.
    let ids: Vec<i64> = events
        .iter()
        .map(|(_, e)| {
            e["id"]
                .as_str()
                .map_or_else(|| e["id"].as_i64().unwrap(), |s| s.parse().unwrap_or(0))
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] >= w[1]), "{ids:?}");
    // Another tenant: 404, and nothing in its audit search.
    let other = app.token(app.tenant("Lain").await, "admin");
    app.get(&format!("/api/v1/customers/{c}/timeline"), &other)
        .await
        .assert_problem(404);
    let r = app.get("/api/v1/audit-events?limit=200", &other).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["customer_id"] == c.as_str()),
        "{}",
        r.body
    );
}

/// Segment membership lands on each member's timeline; definitions of segments and tiers and
/// the tenant's settings are in the audit search.
async fn segments_tiers_and_settings_are_audited(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let c = customer(&app, &admin, "Budi").await;
    let seg = app
        .post(
            "/api/v1/customer-segments",
            &admin,
            json!({"name": "Hand picked", "segment_type": "manual"}),
        )
        .await;
    assert_eq!(seg.status, 201, "{}", seg.body);
    let seg_id = seg.body["id"].as_str().unwrap().to_owned();
    for path in ["members", "members/remove"] {
        let r = app
            .post(
                &format!("/api/v1/customer-segments/{seg_id}/{path}"),
                &admin,
                json!({"customer_ids": [c]}),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let events = timeline(&app, &admin, &c).await;
    assert_eq!(of(&events, "segment.member_added").len(), 1, "{events:?}");
    assert_eq!(of(&events, "segment.member_removed").len(), 1, "{events:?}");

    let r = app
        .call(
            "PATCH",
            "/api/v1/tenant/settings",
            Some(&admin),
            Some(json!({"points_unit": "5000"})),
            &[],
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let audit = |ty: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/audit-events?type={ty}"), &admin)
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["data"].as_array().unwrap().clone()
        }
    };
    assert_eq!(audit("segment.created").await.len(), 1);
    let settings = audit("tenant.settings_updated").await;
    assert_eq!(settings.len(), 1);
    assert!(
        settings[0]["changes"].get("points_unit").is_some(),
        "{:?}",
        settings[0]
    );
    // The audit search is for customers.manage: a manager is refused.
    let manager = app.token(tenant, "manager");
    app.get("/api/v1/audit-events", &manager)
        .await
        .assert_problem(403);
}

/// A segment that stops holding its stored members (deleted, or no longer manual) puts a
/// `segment.member_removed` on each dropped member's timeline, by the caller.
async fn dropped_segment_members_get_member_removed(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let admin = app.token(tenant, "admin");
    let mut members = Vec::new();
    for name in ["Ana", "Budi", "Citra"] {
        members.push(customer(&app, &admin, name).await);
    }
    let dewi = customer(&app, &admin, "Dewi").await;
    let segment = |name: &'static str, ids: Vec<String>| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let r = app
                .post(
                    "/api/v1/customer-segments",
                    &admin,
                    json!({"name": name, "segment_type": "manual"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            let id = r.body["id"].as_str().unwrap().to_owned();
            let r = app
                .post(
                    &format!("/api/v1/customer-segments/{id}/members"),
                    &admin,
                    json!({ "customer_ids": ids }),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            id
        }
    };
    let three = segment("Tiga", members.clone()).await;
    let one = segment("Satu", vec![dewi.clone()]).await;

    // Deleting the static segment of 3: one event on each member's timeline.
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customer-segments/{three}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    for c in &members {
        let events = timeline(&app, &admin, c).await;
        let removed = of(&events, "segment.member_removed");
        assert_eq!(removed.len(), 1, "{events:?}");
        assert_eq!(removed[0]["customer_id"], c.as_str());
        assert_eq!(removed[0]["entity_id"], three.as_str());
        assert_eq!(removed[0]["data"]["segment_name"], "Tiga");
        assert_eq!(removed[0]["data"]["customer_id"], c.as_str());
        assert_eq!(removed[0]["actor"]["role"], "admin");
    }
    assert!(
        of(
            &timeline(&app, &admin, &dewi).await,
            "segment.member_removed"
        )
        .is_empty()
    );

    // Turning the manual segment of 1 into a rule segment drops its member: one event.
    let rule = json!({
        "name": "Satu",
        "segment_type": "auto",
        "filter": {"all": [{"field": "email", "op": "eq", "value": "nobody@example.co.id"}]},
    });
    for _ in 0..2 {
        let r = app
            .call(
                "PUT",
                &format!("/api/v1/customer-segments/{one}"),
                Some(&admin),
                Some(rule.clone()),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // The second save drops nothing: still one.
    let events = timeline(&app, &admin, &dewi).await;
    let removed = of(&events, "segment.member_removed");
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["entity_id"], one.as_str());
    assert_eq!(removed[0]["customer_id"], dewi.as_str());
}

on_both_backends!(
    orders_points_and_tiers_reach_the_timeline,
    segments_tiers_and_settings_are_audited,
    dropped_segment_members_get_member_removed,
);
