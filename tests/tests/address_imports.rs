//! Addresses in imports and exports (issue 12), on SQLite and PostgreSQL: a customers file's
//! flat address columns (`Alamat`, `Kota`, `Provinsi`, `Kode Pos`, ...) become the customer's
//! default billing address; an `update` re-import changes that address instead of adding
//! another; a bad address is a rejected row naming its column, an incomplete one (no street or
//! no city) a warned row whose customer is imported without it; the list export's
//! `billing_*` / `shipping_*` columns, which import back.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::imports::{counts, customer, errors, import, import_bytes, warnings};
use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

/// Two good rows, two with an incomplete address (imported, warned, without the address): line
/// 4 has a street and no city, line 5 a city and no street; and a bad one: line 6 an e-mail
/// that is no e-mail (a customer error beside a good address).
const INDONESIAN: &str = "Nama,Email,Alamat,Kecamatan,Kota,Provinsi,Kode Pos\n\
Budi Santoso,budi@example.com,Jl. Merdeka No. 1,Sumur Bandung,Bandung,Jawa Barat,40111\n\
Siti Aminah,siti@example.com,Jl. Sudirman Kav. 2,,Jakarta Pusat,DKI Jakarta,10220\n\
Ani,ani@example.com,Jl. Tanpa Kota 3,,,,\n\
Dewi,dewi@example.com,,,Surabaya,,\n\
Eko,eko@example,Jl. Pemuda 4,,Semarang,,\n";

async fn addresses(app: &TestApp, token: &str, customer: &Value) -> Vec<Value> {
    let id = customer["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/customers/{id}/addresses"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

async fn indonesian_address_columns_make_the_default_billing_address(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    // A dry run shows the address it would write, and writes nothing.
    let dry = import(
        &app,
        &t,
        INDONESIAN,
        json!({"kind": "customers", "dry_run": true}),
    )
    .await;
    assert_eq!(counts(&dry), [5, 4, 0, 0, 1], "{dry}");
    assert_eq!(
        warnings(&dry),
        (
            2,
            vec![
                (4, "address.city".to_owned()),
                (5, "address.line1".to_owned())
            ]
        )
    );
    let preview = &dry["progress"]["preview"][0];
    assert_eq!(preview["billing_address"]["city"], "Bandung", "{preview}");
    assert_eq!(preview["billing_address"]["type"], "billing");

    let job = import(&app, &t, INDONESIAN, json!({"kind": "customers"})).await;
    assert_eq!(counts(&job), [5, 4, 0, 0, 1], "{job}");
    assert_eq!(errors(&app, &t, &job).await, [(6, "email".to_owned())]);
    assert_eq!(
        warnings(&job),
        (
            2,
            vec![
                (4, "address.city".to_owned()),
                (5, "address.line1".to_owned())
            ]
        )
    );
    for email in ["ani@example.com", "dewi@example.com"] {
        let c = customer(&app, &t, email).await;
        assert_eq!(c["default_billing_address"], Value::Null, "{c}");
        assert!(addresses(&app, &t, &c).await.is_empty());
    }
    let budi = customer(&app, &t, "budi@example.com").await;
    let billing = &budi["default_billing_address"];
    assert_eq!(billing["type"], "billing", "{budi}");
    assert_eq!(billing["line1"], "Jl. Merdeka No. 1");
    assert_eq!(billing["district"], "Sumur Bandung");
    assert_eq!(billing["city"], "Bandung");
    assert_eq!(billing["region"], "Jawa Barat");
    assert_eq!(billing["postal_code"], "40111");
    assert_eq!(billing["country"], "ID", "the tenant's country");
    assert_eq!(billing["is_default"], true);
    assert_eq!(budi["default_shipping_address"], Value::Null);
    let siti = customer(&app, &t, "siti@example.com").await;
    assert_eq!(siti["default_billing_address"]["city"], "Jakarta Pusat");
    assert_eq!(siti["default_billing_address"]["district"], Value::Null);

    // An `update` re-import changes the city of the same address; the rest stays. Its dry run
    // shows the stored address with the new city, and changes nothing.
    let moved = "Nama,Email,Kota\nBudi Santoso,budi@example.com,Cimahi\n";
    let dry = import(
        &app,
        &t,
        moved,
        json!({"kind": "customers", "duplicate_policy": "update", "dry_run": true}),
    )
    .await;
    assert_eq!(counts(&dry), [1, 0, 1, 0, 0], "{dry}");
    let shown = &dry["progress"]["preview"][0]["billing_address"];
    assert_eq!(shown["city"], "Cimahi", "{dry}");
    assert_eq!(shown["line1"], "Jl. Merdeka No. 1", "{dry}");
    let unchanged = customer(&app, &t, "budi@example.com").await;
    assert_eq!(unchanged["default_billing_address"]["city"], "Bandung");
    let job = import(
        &app,
        &t,
        moved,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 1, 0, 0], "{job}");
    let budi_now = customer(&app, &t, "budi@example.com").await;
    let list = addresses(&app, &t, &budi_now).await;
    assert_eq!(list.len(), 1, "no second address: {list:?}");
    assert_eq!(list[0]["id"], billing["id"]);
    assert_eq!(list[0]["city"], "Cimahi");
    assert_eq!(list[0]["line1"], "Jl. Merdeka No. 1");
    assert_eq!(list[0]["postal_code"], "40111");
    assert_eq!(budi_now["default_billing_address"]["city"], "Cimahi");
    // The same cells again change nothing: skipped. A file with every column changes Budi's
    // city back and leaves Siti's address as it is.
    let job = import(
        &app,
        &t,
        moved,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 0, 1, 0], "{job}");
    let job = import(
        &app,
        &t,
        INDONESIAN,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    // Ani and Dewi still have no address to complete: skipped, warned again.
    assert_eq!(counts(&job), [5, 0, 1, 3, 1], "{job}");
    assert_eq!(warnings(&job).0, 2, "{job}");
    let budi_now = customer(&app, &t, "budi@example.com").await;
    let list = addresses(&app, &t, &budi_now).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["city"], "Bandung");
    assert_eq!(addresses(&app, &t, &siti).await.len(), 1);

    // A customer without an address gets one from an update; a bad city stays a rejected row.
    let r = app
        .post(
            "/api/v1/customers",
            &t,
            json!({"name": "Fajar", "email": "fajar@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let body = "Nama,Email,Alamat,Kota,Negara\n\
                Fajar,fajar@example.com,Orchard Road 1,Singapore,SG\n\
                Budi Santoso,budi@example.com,,,\n";
    let job = import(
        &app,
        &t,
        body,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [2, 0, 1, 1, 0], "{job}");
    // Two rows of one file for a new customer: one customer, one address, the later city.
    let twice = "Nama,Email,Alamat,Kota\n\
                 Gilang,gilang@example.com,Jl. Dago 5,Bandung\n\
                 Gilang,gilang@example.com,,Garut\n";
    let job = import(
        &app,
        &t,
        twice,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [2, 1, 1, 0, 0], "{job}");
    let gilang = customer(&app, &t, "gilang@example.com").await;
    let list = addresses(&app, &t, &gilang).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["city"], "Garut");
    assert_eq!(list[0]["line1"], "Jl. Dago 5");
    assert_eq!(list[0]["version"], 1);
    let fajar = customer(&app, &t, "fajar@example.com").await;
    assert_eq!(fajar["country"], "SG");
    assert_eq!(fajar["default_billing_address"]["city"], "Singapore");
    assert_eq!(
        fajar["default_billing_address"]["country"], "SG",
        "the row's country"
    );
}

/// Issue 12: the benchmark's customers file, a city column and no street.
const CITY_ONLY: &str = "Nama;E-mail;No HP;Tags;Kota\n\
Budi Santoso;budi@example.id;081234567890;vip;Jakarta\n\
Siti Aminah;siti@example.id;081234567891;;\n";

async fn a_city_without_a_street_imports_the_customer_without_an_address_and_warns(
    backend: DbBackend,
) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    for dry_run in [true, false] {
        let job = import(
            &app,
            &t,
            CITY_ONLY,
            json!({"kind": "customers", "dry_run": dry_run}),
        )
        .await;
        assert_eq!(counts(&job), [2, 2, 0, 0, 0], "{job}");
        // Budi's row is warned naming the street; Siti's, with no address cell, is not.
        assert_eq!(
            warnings(&job),
            (1, vec![(2, "address.line1".to_owned())]),
            "{job}"
        );
        assert!(errors(&app, &t, &job).await.is_empty());
    }
    let budi = customer(&app, &t, "budi@example.id").await;
    assert_eq!(budi["name"], "Budi Santoso", "{budi}");
    assert_eq!(budi["tags"], json!(["vip"]));
    assert_eq!(budi["default_billing_address"], Value::Null);
    assert!(addresses(&app, &t, &budi).await.is_empty());
    let siti = customer(&app, &t, "siti@example.id").await;
    assert!(addresses(&app, &t, &siti).await.is_empty());
}

async fn an_explicit_mapping_targets_address_fields_and_bad_ones_are_rejected(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    let body = "Customer,Mail,Street,Town,Land\n\
                Gita,gita@example.com,Jl. Asia Afrika 8,Bandung,ID\n\
                Hadi,hadi@example.com,Jl. Braga 9,Bandung,XX\n";
    let mapping = json!({
        "Customer": "name",
        "Mail": "email",
        "Street": "address.line1",
        "Town": "address.city",
        "Land": "address.country",
    });
    let job = import(
        &app,
        &t,
        body,
        json!({"kind": "customers", "mapping": mapping}),
    )
    .await;
    assert_eq!(counts(&job), [2, 1, 0, 0, 1], "{job}");
    assert_eq!(
        errors(&app, &t, &job).await,
        [(3, "address.country".to_owned())]
    );
    let gita = customer(&app, &t, "gita@example.com").await;
    assert_eq!(
        gita["default_billing_address"]["line1"],
        "Jl. Asia Afrika 8"
    );
    // An unknown address target is an option error.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(body.as_bytes().to_vec()).file_name("c.csv"),
        )
        .text(
            "options",
            json!({"kind": "customers", "mapping": {"Customer": "name", "Town": "address.town"}})
                .to_string(),
        );
    let r = app
        .http
        .post(format!("{}/api/v1/imports?wait=true", app.base))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"], "options.mapping.Town",
        "{problem}"
    );
}

/// `GET /api/v1/exports/customers?<query>`: status and body.
async fn export(app: &TestApp, token: &str, query: &str) -> (u16, Vec<u8>) {
    let r = app
        .http
        .get(format!("{}/api/v1/exports/customers?{query}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

const ADDRESS_QUERY: &str = "sort=name&columns=name,email,billing_address_line1,\
     billing_address_line2,billing_district,billing_city,billing_region,billing_postal_code,\
     billing_country,shipping_address_line1,shipping_city,shipping_country";

async fn the_list_export_has_default_address_columns_that_import_back(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    let r = app
        .post(
            "/api/v1/customers",
            &t,
            json!({
                "name": "Ani",
                "email": "ani@example.com",
                "addresses": [
                    {"type": "billing", "line1": "Jl. Merdeka 1", "district": "Sumur Bandung",
                     "city": "Bandung", "region": "Jawa Barat", "postal_code": "40111"},
                    {"type": "shipping", "line1": "Gudang 2", "city": "Cikarang"},
                    {"type": "billing", "line1": "Old Street 3", "city": "Bogor"}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post(
            "/api/v1/customers",
            &t,
            json!({"name": "Budi", "email": "budi@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let (status, body) = export(&app, &t, ADDRESS_QUERY).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let csv = String::from_utf8(body).unwrap();
    // RFC 4180 line ends.
    assert_eq!(
        csv.replace("\r\n", "\n"),
        "name,email,billing_address_line1,billing_address_line2,billing_district,billing_city,\
         billing_region,billing_postal_code,billing_country,shipping_address_line1,shipping_city,\
         shipping_country\n\
         Ani,ani@example.com,Jl. Merdeka 1,,Sumur Bandung,Bandung,Jawa Barat,40111,ID,Gudang 2,\
         Cikarang,ID\n\
         Budi,budi@example.com,,,,,,,,,,\n"
    );
    // Not in the default columns; an unknown address column is a 400 naming `columns`.
    let (status, body) = export(&app, &t, "sort=name").await;
    assert_eq!(status, 200);
    assert!(!String::from_utf8(body).unwrap().contains("billing_"));
    let (status, body) = export(&app, &t, "columns=name,billing_street").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["errors"][0]["field"], "columns", "{problem}");

    // The CSV imports into another tenant with the same default billing address.
    let other = app.token(app.tenant("Cabang").await, "admin");
    let job = import(&app, &other, &csv, json!({"kind": "customers"})).await;
    assert_eq!(counts(&job), [2, 2, 0, 0, 0], "{job}");
    let ani = customer(&app, &other, "ani@example.com").await;
    let billing = &ani["default_billing_address"];
    assert_eq!(billing["line1"], "Jl. Merdeka 1", "{ani}");
    assert_eq!(billing["district"], "Sumur Bandung");
    assert_eq!(billing["city"], "Bandung");
    assert_eq!(billing["region"], "Jawa Barat");
    assert_eq!(billing["postal_code"], "40111");
    assert_eq!(ani["default_shipping_address"], Value::Null);
    let budi = customer(&app, &other, "budi@example.com").await;
    assert_eq!(budi["default_billing_address"], Value::Null);

    // So does the XLSX workbook of the same export.
    let (status, xlsx) = export(&app, &t, &format!("format=xlsx&{ADDRESS_QUERY}")).await;
    assert_eq!(status, 200);
    let third = app.token(app.tenant("Gudang").await, "admin");
    let job = import_bytes(
        &app,
        &third,
        "customers.xlsx",
        xlsx,
        json!({"kind": "customers"}),
    )
    .await;
    assert_eq!(counts(&job), [2, 2, 0, 0, 0], "{job}");
    let ani = customer(&app, &third, "ani@example.com").await;
    assert_eq!(ani["default_billing_address"]["city"], "Bandung", "{ani}");
    assert_eq!(ani["default_billing_address"]["postal_code"], "40111");
}

on_both_backends!(
    indonesian_address_columns_make_the_default_billing_address,
    a_city_without_a_street_imports_the_customer_without_an_address_and_warns,
    an_explicit_mapping_targets_address_fields_and_bad_ones_are_rejected,
    the_list_export_has_default_address_columns_that_import_back,
);
