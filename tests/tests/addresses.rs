//! Addresses (issue 12) as a client sees them, on SQLite and PostgreSQL: CRUD with `ETag` /
//! `If-Match`, validation problems naming the field, one default per customer and type (also
//! under concurrent "make default" requests), the 50-address limit, soft-deleted and other
//! tenants' customers, the customer response's default addresses, the address filters and the
//! radius search.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use serde_json::{Value, json};

async fn customer(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({"name": name, "email": format!("{}@example.co.id", name.to_lowercase().replace(' ', "."))}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn path(customer: &str) -> String {
    format!("/api/v1/customers/{customer}/addresses")
}

async fn add(app: &TestApp, token: &str, customer: &str, body: Value) -> Reply {
    app.post(&path(customer), token, body).await
}

async fn added(app: &TestApp, token: &str, customer: &str, body: Value) -> Value {
    let r = add(app, token, customer, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn billing(line1: &str) -> Value {
    json!({"type": "billing", "line1": line1, "city": "Jakarta Selatan", "postal_code": "12190"})
}

async fn list(app: &TestApp, token: &str, customer: &str) -> Vec<Value> {
    let r = app.get(&path(customer), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn defaults(list: &[Value], address_type: &str) -> Vec<String> {
    list.iter()
        .filter(|a| a["type"] == address_type && a["is_default"] == true)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn crud_with_etags(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Budi Santoso").await;

    let r = add(
        &app,
        &token,
        &c,
        json!({
            "type": "shipping", "label": "Gudang", "recipient_name": "Pak Budi",
            "phone": "021 555 0123", "line1": "Jl. Raya Bogor 10", "district": "Cibubur",
            "city": "Jakarta Timur", "region": "DKI Jakarta", "postal_code": "13720",
            "latitude": -6.3671, "longitude": 106.8945, "delivery_notes": "Pintu belakang\nlantai 1",
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = r.body.clone();
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("{}/{id}", path(&c)).as_str())
    );
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(a["phone"], "+62215550123", "read in the tenant's country");
    assert_eq!(a["country"], "ID", "the tenant's country");
    assert_eq!(a["is_default"], true, "the first shipping address");
    assert_eq!(a["latitude"], -6.3671);

    let got = app.get(&format!("{}/{id}", path(&c)), &token).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, a);
    assert_eq!(got.header("etag"), Some("\"1\""));

    // PATCH: merge semantics, If-Match honoured.
    let patch = |etag: &'static str, body: Value| {
        let url = format!("{}/{id}", path(&c));
        let app = &app;
        let token = token.clone();
        async move {
            app.call(
                "PATCH",
                &url,
                Some(&token),
                Some(body),
                &[("If-Match", etag)],
            )
            .await
        }
    };
    let r = patch("\"1\"", json!({"city": "Depok", "label": null})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["city"].as_str(), r.body["version"].as_i64()),
        (Some("Depok"), Some(2))
    );
    assert!(r.body["label"].is_null());
    assert_eq!(r.body["postal_code"], "13720", "untouched");
    assert_eq!(r.header("etag"), Some("\"2\""));
    patch("\"1\"", json!({"city": "Bogor"}))
        .await
        .assert_problem(412);
    let r = app
        .call(
            "PATCH",
            &format!("{}/{id}", path(&c)),
            Some(&token),
            Some(json!({"region": "Jawa Barat"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "no If-Match: last writer wins: {}", r.body);

    assert_eq!(list(&app, &token, &c).await.len(), 1);
    let r = app
        .call(
            "DELETE",
            &format!("{}/{id}", path(&c)),
            Some(&token),
            None,
            &[("If-Match", "\"1\"")],
        )
        .await;
    r.assert_problem(412);
    let r = app
        .call(
            "DELETE",
            &format!("{}/{id}", path(&c)),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    app.get(&format!("{}/{id}", path(&c)), &token)
        .await
        .assert_problem(404);
    assert!(list(&app, &token, &c).await.is_empty());

    // Permissions are the customer's: a viewer reads, does not write.
    let viewer = app.token(tenant, "viewer");
    assert_eq!(app.get(&path(&c), &viewer).await.status, 200);
    add(&app, &viewer, &c, billing("Jl. A 1"))
        .await
        .assert_problem(403);
}

async fn validation_names_the_field(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Sari Dewi").await;
    for (body, field, code) in [
        (
            json!({"type": "billing", "city": "Bandung"}),
            "line1",
            "required",
        ),
        (
            json!({"type": "billing", "line1": "Jl. A"}),
            "city",
            "required",
        ),
        (
            json!({"line1": "Jl. A", "city": "Bandung"}),
            "type",
            "required",
        ),
        (
            json!({"type": "moon", "line1": "Jl. A", "city": "B"}),
            "type",
            "unknown_value",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "latitude": -6.9}),
            "longitude",
            "required",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "latitude": 95.0, "longitude": 107.0}),
            "latitude",
            "out_of_range",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "postal_code": "1".repeat(21)}),
            "postal_code",
            "too_long",
        ),
        (
            json!({"type": "home", "line1": "Jl.\u{0} A", "city": "B"}),
            "line1",
            "invalid_characters",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "country": "XX"}),
            "country",
            "invalid_country",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "phone": "12"}),
            "phone",
            "invalid_phone",
        ),
        (
            json!({"type": "home", "line1": "Jl. A", "city": "B", "colour": "red"}),
            "colour",
            "unknown_field",
        ),
    ] {
        let r = add(&app, &token, &c, body.clone()).await;
        r.assert_problem(422);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.body);
        assert_eq!(r.body["errors"][0]["code"], code, "{body}: {}", r.body);
    }
    assert!(list(&app, &token, &c).await.is_empty(), "nothing stored");
}

async fn one_default_per_type(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Andi Wijaya").await;
    let first = added(&app, &token, &c, billing("Jl. Satu 1")).await;
    let second = added(&app, &token, &c, billing("Jl. Dua 2")).await;
    let third = added(&app, &token, &c, billing("Jl. Tiga 3")).await;
    let ship = added(
        &app,
        &token,
        &c,
        json!({"type": "shipping", "line1": "Jl. Kirim 4", "city": "Bekasi"}),
    )
    .await;
    assert_eq!(
        (
            first["is_default"].as_bool(),
            second["is_default"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(ship["is_default"], true, "first of its type");

    // Making the third the default unsets the first.
    let r = app
        .call(
            "PATCH",
            &format!("{}/{}", path(&c), third["id"].as_str().unwrap()),
            Some(&token),
            Some(json!({"is_default": true})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = list(&app, &token, &c).await;
    assert_eq!(
        defaults(&all, "billing"),
        vec![third["id"].as_str().unwrap()]
    );
    assert_eq!(
        defaults(&all, "shipping"),
        vec![ship["id"].as_str().unwrap()]
    );
    let old = all.iter().find(|a| a["id"] == first["id"]).unwrap();
    assert_eq!(
        (old["is_default"].as_bool(), old["version"].as_i64()),
        (Some(false), Some(2))
    );

    // The only default cannot be unset.
    let r = app
        .call(
            "PATCH",
            &format!("{}/{}", path(&c), ship["id"].as_str().unwrap()),
            Some(&token),
            Some(json!({"is_default": false})),
            &[],
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("is_default"));

    // Deleting the default promotes the oldest remaining billing address (the first).
    let r = app
        .call(
            "DELETE",
            &format!("{}/{}", path(&c), third["id"].as_str().unwrap()),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    let all = list(&app, &token, &c).await;
    assert_eq!(
        defaults(&all, "billing"),
        vec![first["id"].as_str().unwrap()]
    );

    // A new address asked to be the default takes over.
    let fourth = added(
        &app,
        &token,
        &c,
        json!({"type": "billing", "line1": "Jl. Empat 4", "city": "Bogor", "is_default": true}),
    )
    .await;
    let all = list(&app, &token, &c).await;
    assert_eq!(
        defaults(&all, "billing"),
        vec![fourth["id"].as_str().unwrap()]
    );

    // The database holds the rule too (partial unique index), whatever writes it (here a
    // statement with the tenant wall open, which sees every row).
    use sea_orm::ConnectionTrait;
    let tx = app.database().system_tx().await.unwrap();
    let err = tx
        .execute_unprepared("UPDATE customer_addresses SET is_default = TRUE")
        .await;
    assert!(err.is_err(), "two billing defaults were accepted");
    drop(tx);
    let all = list(&app, &token, &c).await;
    assert_eq!(defaults(&all, "billing").len(), 1);
}

async fn concurrent_make_default_leaves_exactly_one(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Rina Kusuma").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let a = added(&app, &token, &c, billing(&format!("Jl. Nomor {i}"))).await;
        ids.push(a["id"].as_str().unwrap().to_owned());
    }
    for round in 0..3 {
        let urls: Vec<String> = ids.iter().map(|id| format!("{}/{id}", path(&c))).collect();
        let requests = urls.iter().map(|url| {
            app.call(
                "PATCH",
                url,
                Some(&token),
                Some(json!({"is_default": true})),
                &[],
            )
        });
        let replies = futures_util::future::join_all(requests).await;
        for r in &replies {
            assert!(
                r.status == 200 || r.status == 409 || r.status == 503,
                "round {round}: {} {}",
                r.status,
                r.body
            );
        }
        assert!(replies.iter().any(|r| r.status == 200), "round {round}");
        let all = list(&app, &token, &c).await;
        assert_eq!(defaults(&all, "billing").len(), 1, "round {round}: {all:?}");
        assert_eq!(all.len(), 8);
    }
}

async fn at_most_50_addresses(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Gudang Besar").await;
    for i in 0..50 {
        added(
            &app,
            &token,
            &c,
            json!({"type": "warehouse", "line1": format!("Blok {i}"), "city": "Cikarang"}),
        )
        .await;
    }
    let r = add(&app, &token, &c, billing("Jl. Lima Puluh Satu")).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("addresses"));
    assert_eq!(r.body["errors"][0]["code"], "too_many");
    assert_eq!(r.body["errors"][0]["limit"], 50);
    assert_eq!(list(&app, &token, &c).await.len(), 50);
}

async fn other_tenants_and_deleted_customers_have_none(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ours = app.tenant("Toko").await;
    let theirs = app.tenant("Lain").await;
    let token = app.token(ours, "admin");
    let other = app.token(theirs, "admin");
    let c = customer(&app, &token, "Dewi Lestari").await;
    let a = added(&app, &token, &c, billing("Jl. Rahasia 1")).await;
    let one = format!("{}/{}", path(&c), a["id"].as_str().unwrap());

    app.get(&path(&c), &other).await.assert_problem(404);
    app.get(&one, &other).await.assert_problem(404);
    add(&app, &other, &c, billing("Jl. Lain 2"))
        .await
        .assert_problem(404);
    app.call("PATCH", &one, Some(&other), Some(json!({"city": "X"})), &[])
        .await
        .assert_problem(404);
    app.call("DELETE", &one, Some(&other), None, &[])
        .await
        .assert_problem(404);
    // Their own customer does not reach our address either.
    let mine = customer(&app, &other, "Orang Lain").await;
    app.get(
        &format!("{}/{}", path(&mine), a["id"].as_str().unwrap()),
        &other,
    )
    .await
    .assert_problem(404);
    assert_eq!(list(&app, &token, &c).await.len(), 1, "untouched");

    // A soft-deleted customer's addresses go with it and come back on restore.
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{c}"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    app.get(&path(&c), &token).await.assert_problem(404);
    app.get(&one, &token).await.assert_problem(404);
    add(&app, &token, &c, billing("Jl. Baru 3"))
        .await
        .assert_problem(404);
    let r = app
        .post(&format!("/api/v1/customers/{c}/restore"), &token, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(list(&app, &token, &c).await.len(), 1);
    assert_eq!(app.get(&one, &token).await.status, 200);
}

async fn the_customer_carries_its_default_addresses(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let c = customer(&app, &token, "Maju Jaya").await;
    let bare = customer(&app, &token, "Tanpa Alamat").await;
    let b = added(&app, &token, &c, billing("Jl. Tagihan 1")).await;
    added(&app, &token, &c, billing("Jl. Tagihan 2")).await;
    let s = added(
        &app,
        &token,
        &c,
        json!({"type": "shipping", "line1": "Jl. Kirim 3", "city": "Surabaya"}),
    )
    .await;
    added(
        &app,
        &token,
        &c,
        json!({"type": "office", "line1": "Jl. Kantor 4", "city": "Surabaya"}),
    )
    .await;

    let got = app.get(&format!("/api/v1/customers/{c}"), &token).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["default_billing_address"], b);
    assert_eq!(got.body["default_shipping_address"], s);
    let none = app.get(&format!("/api/v1/customers/{bare}"), &token).await;
    assert!(
        none.body["default_billing_address"].is_null(),
        "{}",
        none.body
    );
    assert!(none.body["default_shipping_address"].is_null());

    let page = app.get("/api/v1/customers?limit=10", &token).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let rows = page.body["data"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(row(&c)["default_billing_address"]["id"], b["id"]);
    assert_eq!(row(&c)["default_shipping_address"]["city"], "Surabaya");
    assert!(row(&bare)["default_billing_address"].is_null());

    // Changing the default shows in the customer at once.
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{c}"),
            Some(&token),
            Some(json!({"notes": "pelanggan lama"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["default_billing_address"]["id"], b["id"]);
}

const JAKARTA: (f64, f64) = (-6.2088, 106.8456);
const BANDUNG: (f64, f64) = (-6.9175, 107.6191);
const SURABAYA: (f64, f64) = (-7.2575, 112.7521);

/// Great-circle distance in km: haversine on a sphere of radius 6371.0088 km (the service's
/// formula, computed here independently).
fn haversine((lat1, lng1): (f64, f64), (lat2, lng2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

/// Names of the customers a list request finds, sorted.
async fn names(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/customers?limit=200&{query}"), token)
        .await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    let mut names: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn searched(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let mut names = searched_in_order(app, token, json!({"filter": filter, "limit": 200})).await;
    names.sort();
    names
}

/// The names `POST /customers/search` answers with `body`, in its order.
async fn searched_in_order(app: &TestApp, token: &str, body: Value) -> Vec<String> {
    let r = app
        .post("/api/v1/customers/search", token, body.clone())
        .await;
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Three customers in Jakarta, Bandung and Surabaya (the last also with a Singapore office),
/// one without an address, and another tenant's customer in Bandung and Jakarta.
async fn three_cities(app: &TestApp) -> (String, String) {
    let ours = app.tenant("Toko").await;
    let theirs = app.tenant("Lain").await;
    let token = app.token(ours, "sales");
    let other = app.token(theirs, "sales");
    let place = |t: &str, city: &str, region: &str, postal: &str, (lat, lng): (f64, f64)| {
        json!({"type": t, "line1": "Jl. Utama 1", "city": city, "region": region,
               "postal_code": postal, "latitude": lat, "longitude": lng})
    };
    let a = customer(app, &token, "Ayu Jakarta").await;
    added(
        app,
        &token,
        &a,
        place("billing", "Jakarta Pusat", "DKI Jakarta", "10110", JAKARTA),
    )
    .await;
    let b = customer(app, &token, "Bima Bandung").await;
    added(
        app,
        &token,
        &b,
        place("shipping", "Bandung", "Jawa Barat", "40111", BANDUNG),
    )
    .await;
    let c = customer(app, &token, "Citra Surabaya").await;
    added(
        app,
        &token,
        &c,
        place("billing", "Surabaya", "Jawa Timur", "60111", SURABAYA),
    )
    .await;
    added(
        app,
        &token,
        &c,
        json!({"type": "office", "line1": "1 Raffles Place", "city": "Singapore", "country": "SG", "phone": "+65 6123 4567"}),
    )
    .await;
    customer(app, &token, "Dodi Tanpa Alamat").await;
    let x = customer(app, &other, "Xena Lain").await;
    added(
        app,
        &other,
        &x,
        place("billing", "Bandung", "Jawa Barat", "40111", BANDUNG),
    )
    .await;
    added(
        app,
        &other,
        &x,
        place("shipping", "Jakarta Pusat", "DKI Jakarta", "10110", JAKARTA),
    )
    .await;
    (token, other)
}

async fn customers_are_found_by_their_addresses(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (token, _) = three_cities(&app).await;
    assert_eq!(
        names(&app, &token, "city=bandung").await,
        vec!["Bima Bandung"]
    );
    assert_eq!(
        names(&app, &token, "city=JAKARTA%20PUSAT").await,
        vec!["Ayu Jakarta"]
    );
    assert_eq!(
        names(&app, &token, "postal_code=60111").await,
        vec!["Citra Surabaya"]
    );
    assert_eq!(
        names(&app, &token, "country=sg").await,
        vec!["Citra Surabaya"]
    );
    assert_eq!(
        names(&app, &token, "region=jawa%20barat,Jawa%20Timur").await,
        vec!["Bima Bandung", "Citra Surabaya"]
    );
    assert_eq!(
        names(&app, &token, "country=ID&city=surabaya").await,
        vec!["Citra Surabaya"]
    );
    assert_eq!(
        searched(
            &app,
            &token,
            json!({"all": [{"field": "address.city", "op": "starts_with", "value": "jakarta"}]})
        )
        .await,
        vec!["Ayu Jakarta"]
    );
    assert_eq!(
        searched(
            &app,
            &token,
            json!({"all": [{"field": "address.city", "op": "is_null"}]})
        )
        .await,
        vec!["Dodi Tanpa Alamat"]
    );
    assert_eq!(
        searched(
            &app,
            &token,
            json!({"all": [{"field": "address.country", "op": "neq", "value": "SG"}]})
        )
        .await,
        vec!["Ayu Jakarta", "Bima Bandung", "Dodi Tanpa Alamat"]
    );
    // The filter language's limits hold for the new fields too.
    let long = "x".repeat(256);
    let r = app
        .post(
            "/api/v1/customers/search",
            &token,
            json!({"filter": {"all": [{"field": "address.city", "op": "eq", "value": long}]}}),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.body);
    assert_eq!(r.body["errors"][0]["code"], "too_long", "{}", r.body);
}

async fn radius_search_with_known_distances(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (token, other) = three_cities(&app).await;
    let jb = haversine(JAKARTA, BANDUNG);
    let js = haversine(JAKARTA, SURABAYA);
    // Known values: Jakarta–Bandung about 116 km, Jakarta–Surabaya about 663 km.
    assert!((jb - 116.0).abs() < 1.5, "{jb}");
    assert!((js - 663.0).abs() < 3.0, "{js}");
    let near = |km: f64| format!("near={},{}&within_km={km}", JAKARTA.0, JAKARTA.1);

    assert_eq!(names(&app, &token, &near(10.0)).await, vec!["Ayu Jakarta"]);
    assert_eq!(
        names(&app, &token, &near(jb - 0.5)).await,
        vec!["Ayu Jakarta"]
    );
    assert_eq!(
        names(&app, &token, &near(jb + 0.5)).await,
        vec!["Ayu Jakarta", "Bima Bandung"]
    );
    assert_eq!(
        names(&app, &token, &near(js - 0.5)).await,
        vec!["Ayu Jakarta", "Bima Bandung"]
    );
    assert_eq!(
        names(&app, &token, &near(js + 0.5)).await,
        vec!["Ayu Jakarta", "Bima Bandung", "Citra Surabaya"]
    );
    // Combined with another filter, and in the JSON filter language.
    assert_eq!(
        names(
            &app,
            &token,
            &format!("{}&region=jawa%20barat", near(js + 0.5))
        )
        .await,
        vec!["Bima Bandung"]
    );
    let within = |km: f64| {
        json!({"all": [{"field": "address.near", "op": "within",
                        "value": {"latitude": BANDUNG.0, "longitude": BANDUNG.1, "within_km": km}}]})
    };
    assert_eq!(
        searched(&app, &token, within(jb - 0.5)).await,
        vec!["Bima Bandung"]
    );
    assert_eq!(
        searched(&app, &token, within(jb + 0.5)).await,
        vec!["Ayu Jakarta", "Bima Bandung"]
    );
    // The other tenant sees only its own customer.
    assert_eq!(names(&app, &other, &near(10.0)).await, vec!["Xena Lain"]);

    for (query, field) in [
        ("near=-6.2,106.8", "within_km"),
        ("within_km=5", "near"),
        ("near=abc&within_km=5", "near"),
        ("near=-95,106.8&within_km=5", "near"),
        ("near=-6.2,106.8&within_km=-1", "within_km"),
        ("near=-6.2,106.8&within_km=99999", "within_km"),
    ] {
        let r = app.get(&format!("/api/v1/customers?{query}"), &token).await;
        r.assert_problem(400);
        assert_eq!(r.error_field(), Some(field), "{query}: {}", r.body);
    }
    let r = app
        .post(
            "/api/v1/customers/search",
            &token,
            json!({"filter": {"all": [{"field": "address.near", "op": "eq", "value": 1}]}}),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.body);
}

async fn data_export_holds_every_address_and_erasure_anonymises_them(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "admin");
    let c = customer(&app, &token, "Wibisono Hartanto").await;
    let b = added(
        &app,
        &token,
        &c,
        json!({"type": "billing", "line1": "Jl. Melati 5", "line2": "RT 3 RW 4", "city": "Bogor",
               "region": "Jawa Barat", "postal_code": "16111", "recipient_name": "Pak Wibi",
               "phone": "0812 7777 1234", "latitude": -6.59, "longitude": 106.8,
               "delivery_notes": "rumah pagar hijau", "label": "Rumah"}),
    )
    .await;
    added(
        &app,
        &token,
        &c,
        json!({"type": "shipping", "line1": "Jl. Kenanga 9", "city": "Depok"}),
    )
    .await;

    let r = app
        .get(&format!("/api/v1/customers/{c}/data-export"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["addresses"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["addresses"][0], b);
    assert_eq!(r.body["customer"]["default_billing_address"], b);

    let r = app
        .call(
            "POST",
            &format!("/api/v1/customers/{c}/erase"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = list(&app, &token, &c).await;
    assert_eq!(all.len(), 2);
    let erased = all.iter().find(|a| a["id"] == b["id"]).unwrap();
    assert_eq!(erased["line1"], "(erased)");
    for gone in [
        "line2",
        "recipient_name",
        "phone",
        "latitude",
        "longitude",
        "delivery_notes",
        "label",
        "postal_code",
    ] {
        assert!(erased[gone].is_null(), "{gone}: {erased}");
    }
    assert_eq!(
        (erased["city"].as_str(), erased["is_default"].as_bool()),
        (Some("Bogor"), Some(true))
    );
    assert_eq!(erased["version"], 2);
    let text = serde_json::to_string(&all).unwrap();
    for secret in ["Melati", "Pak Wibi", "7777", "hijau", "Kenanga"] {
        assert!(
            !text.contains(secret),
            "{secret} survived the erasure: {text}"
        );
    }
    // An erased customer's addresses no longer change.
    add(&app, &token, &c, billing("Jl. Baru 1"))
        .await
        .assert_problem(409);
}

/// Names in the order of the pages of `query`, one customer per page, following the cursors.
async fn paged(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let url = match &cursor {
            Some(c) => format!("/api/v1/customers?limit=1&{query}&cursor={c}"),
            None => format!("/api/v1/customers?limit=1&{query}"),
        };
        let r = app.get(&url, token).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        for c in r.body["data"].as_array().unwrap() {
            names.push(c["name"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return names,
        }
    }
    panic!("more pages than customers: {names:?}");
}

async fn sort_by_distance_pages_with_cursors(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (token, _) = three_cities(&app).await;
    let from_bandung = format!("near={},{}&within_km=1000", BANDUNG.0, BANDUNG.1);
    // From Bandung: Bandung (0 km), Jakarta (~116 km), Surabaya (~532 km).
    assert!(haversine(BANDUNG, JAKARTA) < haversine(BANDUNG, SURABAYA));
    let nearest_first = vec!["Bima Bandung", "Ayu Jakarta", "Citra Surabaya"];
    let r = app
        .get(
            &format!("/api/v1/customers?{from_bandung}&sort=distance"),
            &token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, nearest_first);
    assert_eq!(
        paged(&app, &token, &format!("{from_bandung}&sort=distance")).await,
        nearest_first
    );
    let mut farthest_first = nearest_first.clone();
    farthest_first.reverse();
    assert_eq!(
        paged(&app, &token, &format!("{from_bandung}&sort=-distance")).await,
        farthest_first
    );
    // Ties (two customers at one point) are broken by id, across pages.
    let t = app.token(app.tenant("Kembar").await, "sales");
    for name in ["Satu Kembar", "Dua Kembar", "Tiga Kembar"] {
        let c = customer(&app, &t, name).await;
        added(
            &app,
            &t,
            &c,
            json!({"type": "home", "line1": "Jl. Sama 1", "city": "Bandung",
                   "latitude": BANDUNG.0, "longitude": BANDUNG.1}),
        )
        .await;
    }
    let all = paged(&app, &t, &format!("{from_bandung}&sort=distance")).await;
    assert_eq!(all.len(), 3, "{all:?}");

    let r = app.get("/api/v1/customers?sort=distance", &token).await;
    assert!(r.status == 400 || r.status == 422, "{}", r.body);
    assert_eq!(r.error_field(), Some("sort"), "{}", r.body);
}

/// `sort=distance` ranks the circle's addresses once when every group of the filter holds the
/// circle, and per customer otherwise: both give the same order, keyed by each customer's
/// nearest address (a customer with a far and a near address ranks by the near one), and a
/// group without the circle brings customers without an address in it last.
async fn distance_order_is_the_same_whatever_the_filter_shape(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (token, _) = three_cities(&app).await;
    let two = customer(&app, &token, "Dua Alamat").await;
    for (t, city, (lat, lng)) in [
        ("billing", "Surabaya", SURABAYA),
        ("shipping", "Bandung", (BANDUNG.0 + 0.045, BANDUNG.1)),
    ] {
        added(
            &app,
            &token,
            &two,
            json!({"type": t, "line1": "Jl. Dua 2", "city": city, "latitude": lat, "longitude": lng}),
        )
        .await;
    }
    let nearest_first = vec![
        "Bima Bandung",
        "Dua Alamat",
        "Ayu Jakarta",
        "Citra Surabaya",
    ];
    let from_bandung = format!("near={},{}&within_km=1000", BANDUNG.0, BANDUNG.1);
    assert_eq!(
        paged(&app, &token, &format!("{from_bandung}&sort=distance")).await,
        nearest_first
    );
    let near = json!({"field": "address.near", "op": "within",
                      "value": {"latitude": BANDUNG.0, "longitude": BANDUNG.1, "within_km": 1000}});
    let search = |filter: Value| {
        searched_in_order(
            &app,
            &token,
            json!({"filter": filter, "sort": ["distance"], "limit": 50}),
        )
    };
    // The circle in every group: ranked once.
    let every = json!({"any": [
        {"all": [near.clone(), {"field": "name", "op": "neq", "value": "Nobody"}]},
        {"all": [near.clone(), {"field": "name", "op": "eq", "value": "Citra Surabaya"}]}
    ]});
    assert_eq!(search(every).await, nearest_first);
    // A group without it: per customer; Dodi has no address and comes last.
    let one = json!({"any": [
        {"all": [near]},
        {"all": [{"field": "name", "op": "eq", "value": "Dodi Tanpa Alamat"}]}
    ]});
    let mut with_dodi = nearest_first.clone();
    with_dodi.push("Dodi Tanpa Alamat");
    assert_eq!(search(one).await, with_dodi);
}

async fn nested_create_is_whole_or_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let body = |postal: &str| {
        json!({
            "name": "PT Sinar Abadi", "customer_type": "business", "company": "PT Sinar Abadi",
            "email": "finance@sinar-abadi.co.id",
            "addresses": [
                {"type": "billing", "line1": "Jl. Gatot Subroto 12", "city": "Jakarta Selatan", "postal_code": "12930"},
                {"type": "shipping", "line1": "Kawasan Industri Jababeka", "city": "Cikarang", "postal_code": postal},
                {"type": "shipping", "line1": "Jl. Gudang 2", "city": "Bekasi", "is_default": true},
            ],
        })
    };
    let r = app
        .post("/api/v1/customers", &token, body(&"9".repeat(21)))
        .await;
    r.assert_problem(422);
    assert_eq!(
        r.error_field(),
        Some("addresses[1].postal_code"),
        "{}",
        r.body
    );
    let page = app.get("/api/v1/customers?limit=10", &token).await;
    assert_eq!(
        page.body["data"].as_array().unwrap().len(),
        0,
        "nothing written: {}",
        page.body
    );

    // Customer errors and address errors come together.
    let mut both = body("17530");
    both["email"] = json!("not-an-email");
    both["addresses"][0]["latitude"] = json!(-6.2);
    let r = app.post("/api/v1/customers", &token, both).await;
    r.assert_problem(422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"email") && fields.contains(&"addresses[0].longitude"),
        "{fields:?}"
    );

    let r = app.post("/api/v1/customers", &token, body("17530")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["default_billing_address"]["city"], "Jakarta Selatan");
    assert_eq!(
        r.body["default_shipping_address"]["city"], "Bekasi",
        "the marked one"
    );
    let all = list(&app, &token, &c).await;
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[1]["line1"], "Kawasan Industri Jababeka",
        "in the request's order"
    );
    assert_eq!(all[1]["is_default"], false);

    // PATCH does not take addresses (PUT replaces them: `put_replaces_addresses_and_contacts`).
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{c}"),
            Some(&token),
            Some(json!({"addresses": []})),
            &[],
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("addresses"));
    assert_eq!(list(&app, &token, &c).await.len(), 3);

    // 51 addresses are refused whole.
    let many: Vec<Value> = (0..51).map(|i| billing(&format!("Jl. {i}"))).collect();
    let r = app
        .post(
            "/api/v1/customers",
            &token,
            json!({"name": "Banyak", "email": "banyak@example.co.id", "addresses": many}),
        )
        .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("addresses"));
    assert_eq!(r.body["errors"][0]["limit"], 50);
}

/// The README's B2B example: one `POST /customers` with a billing and a shipping address and
/// two contacts stores all of them (the answer shows both default addresses and the primary
/// contact), and the customer is found by its contact's phone. A bad address and a bad contact
/// in one request are both named, beside the customer's own error, and nothing is stored.
async fn a_b2b_customer_with_addresses_and_contacts_in_one_call(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.token(app.tenant("Toko").await, "sales");
    let body = json!({
        "name": "PT Maju Jaya", "customer_type": "business", "company": "PT Maju Jaya",
        "email": "info@majujaya.co.id",
        "addresses": [
            {"type": "billing", "line1": "Jl. Jend. Sudirman Kav. 52", "city": "Jakarta Selatan",
             "region": "DKI Jakarta", "postal_code": "12190"},
            {"type": "shipping", "line1": "Jl. Raya Cakung Cilincing 3", "city": "Jakarta Utara",
             "postal_code": "14130", "latitude": -6.1591, "longitude": 106.9230},
        ],
        "contacts": [
            {"name": "Sari Wulandari", "email": "sari@majujaya.co.id",
             "mobile_phone": "0813 7777 4321", "roles": ["purchasing", "decision_maker"],
             "preferred_channel": "whatsapp"},
            {"name": "Budi Hartono", "email": "budi@majujaya.co.id", "roles": ["billing"]},
        ],
    });

    let mut broken = body.clone();
    broken["email"] = json!("not-an-email");
    broken["addresses"][1]["latitude"] = json!(95.0);
    broken["contacts"][1]["email"] = json!("budi-at-majujaya");
    let r = app.post("/api/v1/customers", &token, broken).await;
    r.assert_problem(422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["email", "addresses[1].latitude", "contacts[1].email"] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    let page = app.get("/api/v1/customers?limit=10", &token).await;
    assert_eq!(
        page.body["data"].as_array().unwrap().len(),
        0,
        "{}",
        page.body
    );

    let r = app.post("/api/v1/customers", &token, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["default_billing_address"]["postal_code"], "12190");
    assert_eq!(r.body["default_shipping_address"]["city"], "Jakarta Utara");
    assert_eq!(r.body["primary_contact"]["name"], "Sari Wulandari");
    assert_eq!(r.body["primary_contact"]["phone"], "+6281377774321");
    let found = app.get("/api/v1/customers?q=0813-7777", &token).await;
    let ids: Vec<&str> = found.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "{}", found.body);
    assert_eq!(
        found.body["data"][0]["default_billing_address"]["city"],
        "Jakarta Selatan"
    );
    let contacts = app
        .get(&format!("/api/v1/customers/{id}/contacts"), &token)
        .await;
    assert_eq!(contacts.status, 200, "{}", contacts.body);
    assert_eq!(
        contacts.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        contacts.body
    );
}

/// `q` finds a customer by an address's city or postal code (search rule 5), ranked below a
/// customer whose name matches; never another tenant's customer or a deleted one.
async fn q_finds_customers_by_an_address_city_or_postal_code(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.token(app.tenant("Toko").await, "manager");
    let other = app.token(app.tenant("Lain").await, "manager");
    let create = |token: &str, name: &str, addresses: Value| {
        let email = format!("{}@example.co.id", name.to_lowercase().replace(' ', "."));
        let body = json!({"name": name, "email": email, "addresses": addresses});
        let token = token.to_owned();
        let app = &app;
        async move {
            let r = app.post("/api/v1/customers", &token, body).await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    let by_address = create(
        &token,
        "Sari",
        json!([{"type": "shipping", "line1": "Jl. Braga 5", "city": "Bandung", "postal_code": "40111"}]),
    )
    .await;
    let by_name = create(&token, "Bandung Jaya", json!([])).await;
    let gone = create(
        &token,
        "Tono",
        json!([{"type": "billing", "line1": "Jl. Dago 1", "city": "Bandung"}]),
    )
    .await;
    let deleted = app
        .call(
            "DELETE",
            &format!("/api/v1/customers/{gone}"),
            Some(&token),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    create(
        &other,
        "Elsewhere",
        json!([{"type": "billing", "line1": "Jl. Riau 2", "city": "Bandung", "postal_code": "40111"}]),
    )
    .await;
    let ids = |r: &Reply| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.get("/api/v1/customers?q=bandung", &token).await;
    assert_eq!(ids(&r), [by_name.clone(), by_address.clone()], "{}", r.body);
    let r = app.get("/api/v1/customers?q=40111", &token).await;
    assert_eq!(ids(&r), std::slice::from_ref(&by_address), "{}", r.body);
    let r = app.get("/api/v1/customers?q=4011", &token).await;
    assert_eq!(
        ids(&r),
        std::slice::from_ref(&by_address),
        "a part of the postal code: {}",
        r.body
    );
    let r = app.get("/api/v1/customers?q=surabaya", &token).await;
    assert!(ids(&r).is_empty(), "{}", r.body);
    // A city is matched from its start: `band` finds Bandung, `dung` (inside the word) only
    // the customer whose name holds it.
    let r = app.get("/api/v1/customers?q=band", &token).await;
    assert_eq!(ids(&r), [by_name.clone(), by_address.clone()], "{}", r.body);
    let r = app.get("/api/v1/customers?q=dung", &token).await;
    assert_eq!(ids(&r), [by_name], "a city matches by prefix: {}", r.body);
}

on_both_backends!(
    q_finds_customers_by_an_address_city_or_postal_code,
    a_b2b_customer_with_addresses_and_contacts_in_one_call,
    nested_create_is_whole_or_nothing,
    sort_by_distance_pages_with_cursors,
    distance_order_is_the_same_whatever_the_filter_shape,
    data_export_holds_every_address_and_erasure_anonymises_them,
    customers_are_found_by_their_addresses,
    radius_search_with_known_distances,
    the_customer_carries_its_default_addresses,
    crud_with_etags,
    validation_names_the_field,
    one_default_per_type,
    concurrent_make_default_leaves_exactly_one,
    at_most_50_addresses,
    other_tenants_and_deleted_customers_have_none,
    put_replaces_addresses_and_contacts,
    put_with_a_bad_element_writes_nothing,
    address_and_contact_writes_change_the_customer_etag,
);

fn contacts_path(customer: &str) -> String {
    format!("/api/v1/customers/{customer}/contacts")
}

async fn put(app: &TestApp, token: &str, id: &str, body: Value, etag: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = etag.map(|e| ("If-Match", e)).into_iter().collect();
    app.call(
        "PUT",
        &format!("/api/v1/customers/{id}"),
        Some(token),
        Some(body),
        &headers,
    )
    .await
}

async fn etag_of(app: &TestApp, token: &str, id: &str) -> String {
    let r = app.get(&format!("/api/v1/customers/{id}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("etag").unwrap().to_owned()
}

async fn contacts_of(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let r = app.get(&contacts_path(id), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// A customer with two addresses (billing default, shipping default) and two contacts (Sari
/// primary, Dewi): `(id, [billing, shipping], [sari, dewi])`.
async fn b2b(app: &TestApp, token: &str) -> (String, Vec<String>, Vec<String>) {
    let r = app
        .post(
            "/api/v1/customers",
            token,
            json!({
                "name": "PT Maju", "customer_type": "business", "company": "PT Maju",
                "email": "finance@maju.co.id",
                "addresses": [
                    billing("Jl. Sudirman 1"),
                    {"type": "shipping", "line1": "Gudang Cikarang", "city": "Bekasi"},
                ],
                "contacts": [
                    {"name": "Sari", "email": "sari@maju.co.id"},
                    {"name": "Dewi", "email": "dewi@maju.co.id"},
                ],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let ids = |v: Vec<Value>| -> Vec<String> {
        v.iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let addresses = ids(list(app, token, &id).await);
    let contacts = ids(contacts_of(app, token, &id).await);
    (id, addresses, contacts)
}

/// `PUT /customers/{id}` with `addresses` and `contacts`: elements with `id` update, elements
/// without create, stored ones not listed are deleted; defaults and the primary follow the
/// marks; each write has its event; the response carries the new defaults and primary.
async fn put_replaces_addresses_and_contacts(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let (id, addresses, contacts) = b2b(&app, &token).await;
    let etag = etag_of(&app, &token, &id).await;
    let r = put(
        &app,
        &token,
        &id,
        json!({
            "name": "PT Maju Jaya", "customer_type": "business", "company": "PT Maju Jaya",
            "email": "finance@maju.co.id",
            "addresses": [
                {"id": addresses[0], "type": "billing", "line1": "Jl. Sudirman 2", "city": "Jakarta Selatan"},
                {"type": "billing", "line1": "Jl. Thamrin 9", "city": "Jakarta Pusat", "is_default": true},
            ],
            "contacts": [
                {"id": contacts[1], "name": "Dewi Lestari", "email": "dewi@maju.co.id"},
                {"name": "Rudi", "email": "rudi@maju.co.id"},
            ],
        }),
        Some(&etag),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "PT Maju Jaya");
    assert_eq!(r.body["default_billing_address"]["line1"], "Jl. Thamrin 9");
    assert_eq!(r.body["default_shipping_address"], Value::Null, "deleted");
    assert_eq!(
        r.body["primary_contact"]["name"], "Dewi Lestari",
        "the first listed: the previous primary is gone"
    );
    assert_ne!(r.header("etag"), Some(etag.as_str()));

    let now = list(&app, &token, &id).await;
    assert_eq!(now.len(), 2, "{now:?}");
    assert_eq!(now[0]["id"], addresses[0].as_str(), "updated in place");
    assert_eq!(now[0]["line1"], "Jl. Sudirman 2");
    assert_eq!(now[0]["is_default"], false);
    assert_eq!(now[0]["version"], 2);
    assert_eq!(now[1]["is_default"], true);
    let people = contacts_of(&app, &token, &id).await;
    let names: Vec<&str> = people.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Dewi Lestari", "Rudi"]);
    assert_eq!(people[0]["id"], contacts[1].as_str());
    assert_eq!(people[0]["is_primary"], true);

    let r = app
        .get(&format!("/api/v1/customers/{id}/timeline?limit=50"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut types: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .take(7)
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "address.added",
            "address.removed",
            "address.updated",
            "contact.added",
            "contact.removed",
            "contact.updated",
            "customer.updated",
        ],
        "{}",
        r.body
    );

    // Without the members, they stay as they are.
    let r = put(
        &app,
        &token,
        &id,
        json!({"name": "PT Maju", "email": "finance@maju.co.id"}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(list(&app, &token, &id).await.len(), 2);
    assert_eq!(contacts_of(&app, &token, &id).await.len(), 2);
    assert_eq!(r.body["primary_contact"]["name"], "Dewi Lestari");

    // Empty arrays remove them all.
    let r = put(
        &app,
        &token,
        &id,
        json!({"name": "PT Maju", "email": "finance@maju.co.id", "addresses": [], "contacts": []}),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(list(&app, &token, &id).await.is_empty());
    assert!(contacts_of(&app, &token, &id).await.is_empty());
    assert_eq!(r.body["primary_contact"], Value::Null);
}

/// A PUT whose last address is invalid changes neither the customer nor its addresses nor its
/// contacts, and names the element; a foreign or repeated id is a 422 naming `addresses[i].id`;
/// a stale If-Match is a 412.
async fn put_with_a_bad_element_writes_nothing(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let (id, addresses, _) = b2b(&app, &token).await;
    let other = customer(&app, &token, "Lain").await;
    let foreign = added(&app, &token, &other, billing("Jl. Lain 1")).await["id"].clone();
    let before = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    let etag = before.header("etag").unwrap().to_owned();
    let body = |last: Value| {
        json!({
            "name": "Renamed", "email": "finance@maju.co.id",
            "addresses": [{"type": "billing", "line1": "Jl. Baru 1", "city": "Bogor"}, last],
            "contacts": [{"name": "Baru"}],
        })
    };
    let r = put(
        &app,
        &token,
        &id,
        body(json!({"type": "shipping", "line1": "Jl. Baru 2", "city": "Bogor", "postal_code": "9".repeat(21)})),
        Some(&etag),
    )
    .await;
    r.assert_problem(422);
    assert_eq!(
        r.error_field(),
        Some("addresses[1].postal_code"),
        "{}",
        r.body
    );
    let after = app.get(&format!("/api/v1/customers/{id}"), &token).await;
    assert_eq!(after.body["name"], "PT Maju");
    assert_eq!(after.header("etag"), Some(etag.as_str()));
    let stored = list(&app, &token, &id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["line1"], "Jl. Sudirman 1");
    assert_eq!(contacts_of(&app, &token, &id).await.len(), 2);

    // Another customer's address id, and an id listed twice.
    let r = put(
        &app,
        &token,
        &id,
        body(json!({"id": foreign, "type": "billing", "line1": "X", "city": "Y"})),
        None,
    )
    .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("addresses[1].id"), "{}", r.body);
    let twice = json!({
        "name": "Renamed", "email": "finance@maju.co.id",
        "addresses": [
            {"id": addresses[0], "type": "billing", "line1": "A", "city": "B"},
            {"id": addresses[0], "type": "billing", "line1": "C", "city": "D"},
        ],
    });
    let r = put(&app, &token, &id, twice, None).await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("addresses[1].id"), "{}", r.body);
    let r = put(
        &app,
        &token,
        &id,
        json!({"name": "Renamed", "contacts": [{"id": "not-a-uuid", "name": "A"}]}),
        None,
    )
    .await;
    r.assert_problem(422);
    assert_eq!(r.error_field(), Some("contacts[0].id"), "{}", r.body);
    assert_eq!(list(&app, &token, &id).await.len(), 2);

    // A stale version: 412, nothing written.
    let r = put(
        &app,
        &token,
        &id,
        json!({"name": "Renamed", "email": "finance@maju.co.id", "addresses": []}),
        Some("\"999\""),
    )
    .await;
    r.assert_problem(412);
    assert_eq!(list(&app, &token, &id).await.len(), 2);
}

/// Address and contact writes at `/customers/{id}/addresses…` and `…/contacts…` change the
/// customer's ETag (its answers embed the default addresses and the primary contact): the old
/// ETag in If-Match then answers 412.
async fn address_and_contact_writes_change_the_customer_etag(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tenant = app.tenant("Toko").await;
    let token = app.token(tenant, "sales");
    let id = customer(&app, &token, "Budi").await;
    let first = etag_of(&app, &token, &id).await;
    let a = added(&app, &token, &id, billing("Jl. Merdeka 1")).await;
    let second = etag_of(&app, &token, &id).await;
    assert_ne!(first, second, "an address added");
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(&token),
            Some(json!({"notes": "x"})),
            &[("If-Match", first.as_str())],
        )
        .await;
    r.assert_problem(412);

    let address = format!("{}/{}", path(&id), a["id"].as_str().unwrap());
    let r = app
        .call(
            "PATCH",
            &address,
            Some(&token),
            Some(json!({"city": "Bandung"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let third = etag_of(&app, &token, &id).await;
    assert_ne!(second, third, "an address updated");
    let r = app.call("DELETE", &address, Some(&token), None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let fourth = etag_of(&app, &token, &id).await;
    assert_ne!(third, fourth, "an address deleted");

    let r = app
        .post(&contacts_path(&id), &token, json!({"name": "Sari"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let contact = format!("{}/{}", contacts_path(&id), r.body["id"].as_str().unwrap());
    let fifth = etag_of(&app, &token, &id).await;
    assert_ne!(fourth, fifth, "a contact added");
    let r = app
        .call(
            "PATCH",
            &contact,
            Some(&token),
            Some(json!({"job_title": "Buyer"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sixth = etag_of(&app, &token, &id).await;
    assert_ne!(fifth, sixth, "a contact updated");
    let r = app.call("DELETE", &contact, Some(&token), None, &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let seventh = etag_of(&app, &token, &id).await;
    assert_ne!(sixth, seventh, "a contact deleted");
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/customers/{id}"),
            Some(&token),
            Some(json!({"notes": "x"})),
            &[("If-Match", seventh.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "the fresh ETag works: {}", r.body);
}
