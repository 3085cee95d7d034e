//! Finding customers: filters, the filter language, sorting, cursor and page-number pages, on
//! SQLite and PostgreSQL. The fixture is built so that each filter and sort changes the result.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

/// Six customers with different values everywhere; returns their names in creation order.
async fn fixture(app: &TestApp, token: &str) -> Vec<String> {
    let people = [
        json!({"name": "Ani", "email": "ani@acme.id", "status": "active", "stage": "lead", "source": "website", "industry": "Retail", "tags": ["vip", "jakarta"], "is_vip": true, "assigned_to": "sales-1", "next_follow_up_at": "2020-01-01T00:00:00Z"}),
        json!({"name": "budi", "phone": "0812 1111 2222", "status": "inactive", "stage": "prospect", "source": "referral", "industry": "retail", "tags": ["jakarta"]}),
        json!({"name": "Citra", "email": "citra@other.id", "customer_type": "business", "company": "PT Citra", "stage": "customer", "tags": ["vip"], "currency": "USD", "next_follow_up_at": "2099-01-01T00:00:00Z"}),
        json!({"name": "Dewi", "email": "dewi@acme.id", "mobile_phone": "0813 3333 4444", "is_blacklisted": true, "blacklist_reason": "fraud", "assigned_to": "sales-2"}),
        json!({"name": "eko", "email": "eko@acme.id", "stage": "advocate", "tags": ["surabaya"]}),
        json!({"name": "Fajar", "email": "fajar@x.id", "status": "blocked"}),
    ];
    let mut names = Vec::new();
    for p in people {
        let r = app.post("/api/v1/customers", token, p).await;
        assert_eq!(r.status, 201, "{}", r.body);
        names.push(r.body["name"].as_str().unwrap().to_owned());
    }
    // Spending: Citra 3,000,000 over 2 orders, Ani 500,000 over 1, eko 2,500,000 over 1.
    let ids = all_ids(app, token).await;
    for (who, amounts) in [
        ("Citra", vec!["1000000", "2000000"]),
        ("Ani", vec!["500000"]),
        ("eko", vec!["2500000"]),
    ] {
        let id = &ids.iter().find(|(n, _)| n == who).unwrap().1;
        for a in amounts {
            let r = app
                .post(
                    &format!("/api/v1/customers/{id}/orders"),
                    token,
                    json!({"total_amount": a}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }
    names
}

async fn all_ids(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let r = app.get("/api/v1/customers?limit=200", token).await;
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/customers?limit=200&{query}"), token)
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn sorted_names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let mut n = names(app, token, query).await;
    n.sort();
    n
}

async fn every_filter_changes_the_result(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    fixture(&app, &t).await;
    let cases: &[(&str, &[&str])] = &[
        ("status=inactive,blocked", &["Fajar", "budi"]),
        ("customer_type=business", &["Citra"]),
        // Ani's order moved her from lead to customer; eko stays an advocate.
        ("stage=lead&stage=advocate", &["eko"]),
        ("stage=customer", &["Ani", "Citra"]),
        ("source=referral", &["budi"]),
        ("industry=RETAIL", &["Ani", "budi"]),
        ("assigned_to=sales-2", &["Dewi"]),
        ("tag=vip,surabaya", &["Ani", "Citra", "eko"]),
        ("tags_all=vip,jakarta", &["Ani"]),
        ("is_vip=true", &["Ani"]),
        ("is_blacklisted=true", &["Dewi"]),
        ("has_email=false", &["budi"]),
        ("has_phone=true", &["Dewi", "budi"]),
        ("currency=usd", &["Citra"]),
        ("loyalty_tier=silver", &["Citra", "eko"]),
        ("min_total_spent=2500000", &["Citra", "eko"]),
        ("max_total_spent=500000&min_total_orders=1", &["Ani"]),
        ("min_total_orders=2", &["Citra"]),
        ("follow_up_due=true", &["Ani"]),
        (
            "created_after=2000-01-01T00:00:00Z&status=blocked",
            &["Fajar"],
        ),
        ("last_order_before=2000-01-01T00:00:00Z", &[]),
    ];
    for (query, expected) in cases {
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(sorted_names(&app, &t, query).await, want, "{query}");
    }
}

async fn sorts_break_ties_by_id_and_cursors_follow_them(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let created = fixture(&app, &t).await;
    assert_eq!(
        names(&app, &t, "sort=name").await,
        ["Ani", "budi", "Citra", "Dewi", "eko", "Fajar"]
    );
    assert_eq!(
        names(&app, &t, "sort=-name").await,
        ["Fajar", "eko", "Dewi", "Citra", "budi", "Ani"]
    );
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(names(&app, &t, "").await, newest_first);
    assert_eq!(names(&app, &t, "sort=created_at").await, created);
    let by_spent = names(&app, &t, "sort=-total_spent,name").await;
    assert_eq!(by_spent[..3], ["Citra", "eko", "Ani"]);
    assert_eq!(
        by_spent[3..],
        ["budi", "Dewi", "Fajar"],
        "ties on 0 broken by the next key"
    );
    assert_eq!(
        names(&app, &t, "sort=-total_orders,-name").await[0],
        "Citra"
    );
    let follow = names(&app, &t, "sort=next_follow_up_at,name").await;
    assert_eq!(
        follow[..2],
        ["Ani", "Citra"],
        "customers without a follow-up come last"
    );
    assert_eq!(names(&app, &t, "sort=customer_code").await, created);
    // Walk every sort two rows at a time: the same rows, in the same order, as one page.
    for sort in [
        "name",
        "-total_spent,name",
        "last_order_at",
        "-next_follow_up_at",
        "-updated_at",
        "customer_code",
    ] {
        let whole = names(&app, &t, &format!("sort={sort}")).await;
        let mut walked = Vec::new();
        let mut url = format!("/api/v1/customers?limit=2&sort={sort}");
        loop {
            let page = app.get(&url, &t).await;
            assert_eq!(page.status, 200, "{sort}: {}", page.body);
            walked.extend(
                page.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap().to_owned()),
            );
            match page.body["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/customers?limit=2&sort={sort}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(walked, whole, "{sort}");
    }
    // A cursor belongs to its sort.
    let page = app.get("/api/v1/customers?limit=2&sort=name", &t).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/customers?limit=2&sort=-name&cursor={cursor}"),
            &t,
        )
        .await;
    r.assert_problem(400);
    assert_eq!(r.error_field(), Some("cursor"));
}

async fn walking_pages_while_rows_are_inserted_returns_each_original_row_once(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    for i in 0..9 {
        app.post(
            "/api/v1/customers",
            &t,
            json!({"name": format!("N{i}"), "email": format!("n{i}@x.id")}),
        )
        .await;
    }
    let original: Vec<String> = names(&app, &t, "sort=name").await;
    let mut seen = Vec::new();
    let mut url = "/api/v1/customers?limit=2&sort=name".to_owned();
    let mut inserted = 0;
    loop {
        let page = app.get(&url, &t).await;
        seen.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned()),
        );
        // Others write meanwhile: before, among and after the rows already seen.
        for name in ["A-early", "N4a", "Z-late"] {
            app.post("/api/v1/customers", &t, json!({"name": format!("{name}{inserted}"), "email": format!("w{inserted}-{name}@x.id")})).await;
        }
        inserted += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/customers?limit=2&sort=name&cursor={c}"),
            None => break,
        }
    }
    let originals_seen: Vec<_> = seen
        .iter()
        .filter(|n| original.contains(n))
        .cloned()
        .collect();
    assert_eq!(
        originals_seen, original,
        "every original row exactly once, in order"
    );
}

async fn totals_pages_and_the_filter_language(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    fixture(&app, &t).await;
    let r = app
        .get(
            "/api/v1/customers?limit=2&include_total=true&tag=jakarta,vip",
            &t,
        )
        .await;
    assert_eq!(
        (
            r.body["total"].as_u64(),
            r.body["data"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let p = app
        .get("/api/v1/customers?page=2&limit=4&sort=name", &t)
        .await;
    assert_eq!(
        (
            &p.body["page"],
            &p.body["limit"],
            &p.body["total"],
            &p.body["total_pages"]
        ),
        (&json!(2), &json!(4), &json!(6), &json!(2))
    );
    assert_eq!(
        p.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect::<Vec<_>>(),
        vec![json!("eko"), json!("Fajar")]
    );

    let search = |body: Value| async { app.post("/api/v1/customers/search", &t, body).await };
    let r = search(json!({"filter": {"any": [
        {"all": [{"field": "email", "op": "ends_with", "value": "@ACME.id"}, {"field": "total_spent", "op": "gte", "value": "100000"}]},
        {"all": [{"field": "company", "op": "contains", "value": "citra"}]}
    ]}, "sort": ["name"], "include_total": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got: Vec<_> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (got, r.body["total"].as_u64()),
        (
            vec!["Ani".to_owned(), "Citra".to_owned(), "eko".to_owned()],
            Some(3)
        )
    );
    let r = search(json!({"filter": {"all": [{"field": "tags", "op": "not_in", "value": ["vip", "jakarta"]}, {"field": "name", "op": "starts_with", "value": "E"}]}})).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
    // Wildcards in values are literal.
    let r =
        search(json!({"filter": {"all": [{"field": "email", "op": "contains", "value": "%"}]}}))
            .await;
    assert!(r.body["data"].as_array().unwrap().is_empty());
    for (body, field) in [
        (
            json!({"filter": {"all": [{"field": "shoe_size", "op": "eq", "value": 1}]}}),
            "filter.all[0].field",
        ),
        (
            json!({"filter": {"all": [{"field": "name", "op": "sounds_like", "value": "x"}]}}),
            "filter.all[0].op",
        ),
        (
            json!({"filter": {"all": [{"field": "total_spent", "op": "gte", "value": "lots"}]}}),
            "filter.all[0].value",
        ),
        (
            json!({"filter": {"all": [{"field": "is_vip", "op": "contains", "value": true}]}}),
            "filter.all[0].op",
        ),
    ] {
        let r = search(body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body}");
        assert!(r.body["errors"][0]["message"].as_str().unwrap().len() > 5);
    }
    search(json!({"sort": ["shoe_size"]}))
        .await
        .assert_problem(400);
}

async fn deleted_customers_and_other_tenants_stay_out(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ta = app.tenant("A").await;
    let (admin, manager) = (app.token(ta, "admin"), app.token(ta, "manager"));
    let other = app.token(app.tenant("B").await, "admin");
    fixture(&app, &admin).await;
    let (_, fajar) = all_ids(&app, &admin)
        .await
        .into_iter()
        .find(|(n, _)| n == "Fajar")
        .unwrap();
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/customers/{fajar}"),
            Some(&admin),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    assert!(!names(&app, &admin, "").await.contains(&"Fajar".to_owned()));
    assert_eq!(names(&app, &admin, "only_deleted=true").await, ["Fajar"]);
    assert_eq!(names(&app, &admin, "include_deleted=true").await.len(), 6);
    app.get("/api/v1/customers?include_deleted=true", &manager)
        .await
        .assert_problem(403);
    let r = app
        .get("/api/v1/customers?include_total=true&tag=vip", &other)
        .await;
    assert_eq!(
        (
            r.body["total"].as_u64(),
            r.body["data"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    let r = app.post("/api/v1/customers/search", &other, json!({"filter": {"all": [{"field": "email", "op": "ends_with", "value": "acme.id"}]}, "include_total": true})).await;
    assert_eq!(r.body["total"].as_u64(), Some(0));
    for (query, field) in [
        ("is_vip=maybe", "is_vip"),
        ("min_total_spent=-1", "min_total_spent"),
        ("created_after=yesterday", "created_after"),
        ("page=0", "page"),
        ("sort=name,name", "sort"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &admin).await;
        r.assert_problem(400);
        assert_eq!(r.error_field(), Some(field), "{query}");
    }
}

async fn statistics_describe_any_filtered_view(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("A").await, "admin");
    let other = app.token(app.tenant("B").await, "admin");
    fixture(&app, &t).await;
    let s = app.get("/api/v1/customers/stats", &t).await;
    assert_eq!(s.status, 200, "{}", s.body);
    let b = &s.body;
    assert_eq!(b["total"], 6);
    assert_eq!(
        b["by_status"],
        json!({"active": 4, "inactive": 1, "blocked": 1})
    );
    assert_eq!(b["by_customer_type"]["business"], 1);
    assert_eq!(b["by_stage"]["customer"], 2);
    assert_eq!(
        b["by_loyalty_tier"],
        json!({"Bronze": 1, "Silver": 2, "none": 3})
    );
    assert_eq!((&b["vip"], &b["new_this_month"]), (&json!(1), &json!(6)));
    let idr = b["revenue_by_currency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "IDR")
        .unwrap()
        .clone();
    assert_eq!(
        (&idr["customers"], &idr["total_revenue"]),
        (&json!(5), &json!("3000000"))
    );
    let usd = b["revenue_by_currency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["currency"] == "USD")
        .unwrap()
        .clone();
    assert_eq!(usd["total_revenue"], "3000000");
    assert_eq!(b["average_purchases_per_customer"], "0.67");
    assert_eq!(b["top_customers"][0]["name"], "Citra");
    assert_eq!(b["recent_customers"][0]["name"], "Fajar");
    // The same filters as the list.
    let vip = app.get("/api/v1/customers/stats?tag=vip", &t).await.body;
    assert_eq!(
        (&vip["total"], &vip["by_loyalty_tier"]),
        (&json!(2), &json!({"Bronze": 1, "Silver": 1}))
    );
    let empty = app.get("/api/v1/customers/stats", &other).await.body;
    assert_eq!(
        (&empty["total"], &empty["top_customers"]),
        (&json!(0), &json!([]))
    );
    app.get("/api/v1/customers/stats?colour=red", &t)
        .await
        .assert_problem(400);
}

on_both_backends!(
    statistics_describe_any_filtered_view,
    every_filter_changes_the_result,
    sorts_break_ties_by_id_and_cursors_follow_them,
    walking_pages_while_rows_are_inserted_returns_each_original_row_once,
    totals_pages_and_the_filter_language,
    deleted_customers_and_other_tenants_stay_out,
);

mod views {
    use super::*;

    async fn saved_views_are_private_or_shared(backend: DbBackend) {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.tenant("A").await;
        let (ani, budi_sales) = (app.token(t, "sales"), app.token(t, "viewer"));
        let admin = app.token(t, "admin");
        let other = app.token(app.tenant("B").await, "admin");
        let body = json!({"name": "Jakarta VIPs", "filter": {"all": [{"field": "tags", "op": "contains", "value": "vip"}]}, "sort": ["-total_spent", "name"], "columns": ["name", "email", "total_spent"]});
        let private = app.post("/api/v1/customer-views", &ani, body.clone()).await;
        assert_eq!(private.status, 201, "{}", private.body);
        assert_eq!(private.body["sort"], json!(["-total_spent", "name"]));
        let id = private.body["id"].as_str().unwrap().to_owned();
        let mut shared_body = body.clone();
        shared_body["name"] = json!("Everyone's");
        shared_body["shared"] = json!(true);
        let shared = app
            .post("/api/v1/customer-views", &ani, shared_body.clone())
            .await;
        let sid = shared.body["id"].as_str().unwrap().to_owned();
        // The viewer sees only the shared one; the private one is "not found" to them.
        let seen: Vec<_> = app
            .get("/api/v1/customer-views", &budi_sales)
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].clone())
            .collect();
        assert_eq!(seen, vec![json!("Everyone's")]);
        app.get(&format!("/api/v1/customer-views/{id}"), &budi_sales)
            .await
            .assert_problem(404);
        app.call(
            "DELETE",
            &format!("/api/v1/customer-views/{sid}"),
            Some(&budi_sales),
            None,
            &[],
        )
        .await
        .assert_problem(403);
        // A manager-level admin may change shared views; another tenant sees nothing.
        shared_body["name"] = json!("Renamed");
        let r = app
            .call(
                "PUT",
                &format!("/api/v1/customer-views/{sid}"),
                Some(&admin),
                Some(shared_body),
                &[],
            )
            .await;
        assert_eq!(
            (r.status, &r.body["name"], &r.body["owner"]),
            (200, &json!("Renamed"), &json!("sales-user"))
        );
        app.get(&format!("/api/v1/customer-views/{sid}"), &other)
            .await
            .assert_problem(404);
        assert!(
            app.get("/api/v1/customer-views", &other)
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        // The stored filter is the search's filter.
        let view = app
            .get(&format!("/api/v1/customer-views/{id}"), &ani)
            .await
            .body;
        let r = app
            .post(
                "/api/v1/customers/search",
                &ani,
                json!({"filter": view["filter"], "sort": view["sort"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let bad = app.post("/api/v1/customer-views", &ani, json!({"name": "x", "filter": {"all": [{"field": "colour", "op": "eq", "value": 1}]}})).await;
        bad.assert_problem(422);
        assert_eq!(bad.error_field(), Some("filter.all[0].field"));
        assert_eq!(
            app.call(
                "DELETE",
                &format!("/api/v1/customer-views/{id}"),
                Some(&ani),
                None,
                &[]
            )
            .await
            .status,
            204
        );
    }

    on_both_backends!(saved_views_are_private_or_shared);
}

mod bulk {
    use super::*;

    async fn bulk(app: &TestApp, token: &str, body: Value) -> crm_blackbox_tests::Reply {
        app.post("/api/v1/customers/bulk", token, body).await
    }

    async fn bulk_actions_are_all_or_nothing_and_tenant_scoped(backend: DbBackend) {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.tenant("A").await;
        let (admin, sales) = (app.token(t, "admin"), app.token(t, "sales"));
        let other = app.token(app.tenant("B").await, "admin");
        fixture(&app, &admin).await;
        let ids = all_ids(&app, &admin).await;
        let id_of = |n: &str| ids.iter().find(|(name, _)| name == n).unwrap().1.clone();
        // By filter: tag every jakarta customer.
        let r = bulk(&app, &sales, json!({"filter": {"all": [{"field": "tags", "op": "contains", "value": "jakarta"}]}, "action": {"type": "add_tags", "tags": ["Promo"]}})).await;
        assert_eq!(
            (r.status, &r.body["matched"], &r.body["updated"]),
            (200, &json!(2), &json!(2)),
            "{}",
            r.body
        );
        assert_eq!(
            sorted_names(&app, &admin, "tag=promo").await,
            ["Ani", "budi"]
        );
        // By ids: one unknown id (or another tenant's) fails the whole request.
        let b_customer = app
            .post(
                "/api/v1/customers",
                &other,
                json!({"name": "B", "email": "b@b.id"}),
            )
            .await
            .body["id"]
            .clone();
        let r = bulk(&app, &admin, json!({"ids": [id_of("Ani"), b_customer], "action": {"type": "set_vip", "is_vip": false}})).await;
        r.assert_problem(404);
        assert_eq!(
            names(&app, &admin, "is_vip=true").await,
            ["Ani"],
            "nothing changed"
        );
        let r = bulk(&app, &admin, json!({"ids": [id_of("Ani"), id_of("budi")], "action": {"type": "update_status", "status": "archived", "status_reason": "Season over"}})).await;
        assert_eq!(
            (&r.body["matched"], &r.body["updated"]),
            (&json!(2), &json!(2))
        );
        assert_eq!(
            sorted_names(&app, &admin, "status=archived").await,
            ["Ani", "budi"]
        );
        let r = bulk(
            &app,
            &admin,
            json!({"ids": [id_of("Ani")], "action": {"type": "assign", "assigned_to": "sales-9"}}),
        )
        .await;
        assert_eq!(r.body["updated"], 1);
        assert_eq!(names(&app, &admin, "assigned_to=sales-9").await, ["Ani"]);
        // Deleting needs customers.delete; customers with open orders stop the whole delete.
        bulk(
            &app,
            &sales,
            json!({"ids": [id_of("Fajar")], "action": {"type": "delete"}}),
        )
        .await
        .assert_problem(403);
        let citra = id_of("Citra");
        app.post(
            &format!("/api/v1/customers/{citra}/orders"),
            &admin,
            json!({"total_amount": "5", "status": "pending"}),
        )
        .await;
        let r = bulk(
            &app,
            &admin,
            json!({"ids": [id_of("Fajar"), citra], "action": {"type": "delete"}}),
        )
        .await;
        r.assert_problem(409);
        let open: Vec<_> = r.body["open_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["customer_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            (&r.body["type"], open),
            (
                &json!("/problems/customer-has-open-orders"),
                vec![citra.as_str()]
            ),
            "{}",
            r.body
        );
        assert_eq!(
            names(&app, &admin, "only_deleted=true").await.len(),
            0,
            "nothing deleted"
        );
        let r = bulk(&app, &admin, json!({"filter": {"all": [{"field": "status", "op": "eq", "value": "blocked"}]}, "action": {"type": "delete"}})).await;
        assert_eq!(r.body["updated"], 1);
        assert_eq!(names(&app, &admin, "only_deleted=true").await, ["Fajar"]);
        // Another tenant's filter never reaches these customers.
        let r = bulk(
            &app,
            &other,
            json!({"filter": null, "ids": null, "action": {"type": "set_vip", "is_vip": true}}),
        )
        .await;
        r.assert_problem(422);
        let r = bulk(&app, &other, json!({"filter": {"all": [{"field": "email", "op": "ends_with", "value": "acme.id"}]}, "action": {"type": "set_vip", "is_vip": true}})).await;
        assert_eq!(r.body["matched"], 0);
        let r = bulk(
            &app,
            &admin,
            json!({"ids": [id_of("Ani")], "action": {"type": "add_tags", "tags": [" "]}}),
        )
        .await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some("action.tags[0]"));
    }

    on_both_backends!(bulk_actions_are_all_or_nothing_and_tenant_scoped);
}

mod search {
    use super::*;

    async fn search_names(app: &TestApp, token: &str, q: &str) -> Vec<String> {
        let url = format!(
            "/api/v1/customers?limit=200&q={}",
            q.replace(' ', "%20")
                .replace('+', "%2B")
                .replace('@', "%40")
        );
        let r = app.get(&url, token).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn search_finds_every_field_one_typo_and_ranks_best_first(backend: DbBackend) {
        let Some(app) = TestApp::spawn(backend).await else {
            return;
        };
        let t = app.token(app.tenant("A").await, "admin");
        let other = app.token(app.tenant("B").await, "admin");
        for body in [
            json!({"name": "Budi Santoso", "display_name": "Pak Budi", "email": "budi@maju.co.id", "mobile_phone": "0812 3456 7890", "tags": ["grosir"]}),
            json!({"name": "Budiman", "email": "budiman@x.id", "customer_type": "business", "company": "Toko Sentosa Abadi", "tax_id": "01.234.567.8-901.000"}),
            json!({"name": "Siti Aminah", "email": "siti@x.id"}),
            json!({"name": "Budi", "email": "b@x.id"}),
        ] {
            assert_eq!(app.post("/api/v1/customers", &t, body).await.status, 201);
        }
        app.post(
            "/api/v1/customers",
            &other,
            json!({"name": "Budi Lain", "email": "budi@other.id"}),
        )
        .await;
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        // Each searched field.
        assert_eq!(
            search_names(&app, &t, "pak budi").await,
            ["Budi Santoso"],
            "display_name"
        );
        assert_eq!(
            search_names(&app, &t, "sentosa").await,
            ["Budiman"],
            "company"
        );
        assert_eq!(
            search_names(&app, &t, "@maju.co").await,
            ["Budi Santoso"],
            "email"
        );
        assert_eq!(
            search_names(&app, &t, "0812-3456").await,
            ["Budi Santoso"],
            "phone digits, national form"
        );
        assert_eq!(
            search_names(&app, &t, "+62 812 3456").await,
            ["Budi Santoso"],
            "phone digits, international form"
        );
        assert_eq!(
            search_names(&app, &t, "567.8-901").await,
            ["Budiman"],
            "tax id"
        );
        assert_eq!(
            search_names(&app, &t, "grosir").await,
            ["Budi Santoso"],
            "tag"
        );
        let code = app
            .get("/api/v1/customers?limit=200&sort=created_at", &t)
            .await
            .body["data"][2]["customer_code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            search_names(&app, &t, &code.to_lowercase()).await,
            ["Siti Aminah"],
            "customer code"
        );
        // One typo in a word of four letters or more.
        assert_eq!(
            search_names(&app, &t, "aminha").await,
            ["Siti Aminah"],
            "swap"
        );
        assert_eq!(
            search_names(&app, &t, "aminoh").await,
            ["Siti Aminah"],
            "substitution"
        );
        assert_eq!(
            search_names(&app, &t, "amnah").await,
            ["Siti Aminah"],
            "deletion"
        );
        assert_eq!(
            search_names(&app, &t, "aminnah").await,
            ["Siti Aminah"],
            "insertion"
        );
        // One edit from "santoso" (Budi Santoso) and from "sentosa" (Budiman's company).
        assert_eq!(
            sorted(search_names(&app, &t, "sentoso").await),
            ["Budi Santoso", "Budiman"]
        );
        assert!(search_names(&app, &t, "xyzzy").await.is_empty());
        // Best first: the exact name, then names starting with the text, then other matches.
        let ranked = search_names(&app, &t, "budi").await;
        assert_eq!(ranked[0], "Budi");
        assert_eq!(sorted(ranked[1..3].to_vec()), ["Budi Santoso", "Budiman"]);
        assert_eq!(ranked.len(), 3, "another tenant's Budi never appears");
        // Relevance pages by cursor like any sort.
        let first = app.get("/api/v1/customers?q=budi&limit=2", &t).await;
        let next = first.body["next_cursor"].as_str().unwrap();
        let second = app
            .get(
                &format!("/api/v1/customers?q=budi&limit=2&cursor={next}"),
                &t,
            )
            .await;
        assert_eq!(second.status, 200, "{}", second.body);
        let mut walked: Vec<_> = first.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second.body["data"].as_array().unwrap())
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(walked.len(), 3);
        walked.dedup();
        assert_eq!(walked.len(), 3);
        // Search combines with filters and sorts, in the list, the search body and the stats.
        assert_eq!(
            search_names(&app, &t, "budi&customer_type=business").await,
            ["Budiman"]
        );
        assert_eq!(
            names(&app, &t, "q=budi&sort=-name").await,
            ["Budiman", "Budi Santoso", "Budi"]
        );
        let r = app.post("/api/v1/customers/search", &t, json!({"q": "BUDI", "filter": {"all": [{"field": "email", "op": "ends_with", "value": "x.id"}]}})).await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 2, "{}", r.body);
        assert_eq!(
            app.get("/api/v1/customers/stats?q=budi", &t).await.body["total"],
            3
        );
        let bad = app.get("/api/v1/customers?q=b", &t).await;
        bad.assert_problem(400);
        assert_eq!(bad.error_field(), Some("q"));
        app.get("/api/v1/customers?sort=relevance", &t)
            .await
            .assert_problem(422);
    }

    on_both_backends!(search_finds_every_field_one_typo_and_ranks_best_first);
}
