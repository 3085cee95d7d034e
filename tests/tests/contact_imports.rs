//! Contacts in imports (issue 12), on SQLite and PostgreSQL: a customers file's contact
//! columns (`Nama PIC`, `Email PIC`, `HP PIC`, `Contact Person`, ...) become the customer's
//! primary contact; an `update` re-import changes that contact field by field instead of
//! adding another; a bad contact cell is a rejected row naming `contact.<field>`; a dry run's
//! preview shows the contact; an explicit mapping may target `contact.*`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_blackbox_tests::imports::{counts, customer, errors, import};
use crm_blackbox_tests::{DbBackend, TestApp, on_both_backends};
use serde_json::{Value, json};

/// Three rows: two good, line 4 with a PIC e-mail that is no e-mail.
const INDONESIAN: &str = "Nama,Email,Nama PIC,Email PIC,HP PIC\n\
PT Maju Jaya,maju@example.com,Rina Wijaya,rina@maju.example,+6281234567001\n\
CV Sentosa,sentosa@example.com,Agus,agus@sentosa.example,\n\
PT Salah,salah@example.com,Joko,joko@salah,+6281234567003\n";

async fn contacts(app: &TestApp, token: &str, customer: &Value) -> Vec<Value> {
    let id = customer["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/customers/{id}/contacts"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

async fn indonesian_pic_columns_make_the_primary_contact(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    // A dry run shows the contact it would write, and writes nothing.
    let dry = import(
        &app,
        &t,
        INDONESIAN,
        json!({"kind": "customers", "dry_run": true}),
    )
    .await;
    assert_eq!(counts(&dry), [3, 2, 0, 0, 1], "{dry}");
    let preview = &dry["progress"]["preview"][0];
    assert_eq!(
        preview["primary_contact"]["name"], "Rina Wijaya",
        "{preview}"
    );
    assert_eq!(preview["primary_contact"]["email"], "rina@maju.example");

    let job = import(&app, &t, INDONESIAN, json!({"kind": "customers"})).await;
    assert_eq!(counts(&job), [3, 2, 0, 0, 1], "{job}");
    // The bad PIC e-mail is a rejected row naming the contact's field.
    assert_eq!(
        errors(&app, &t, &job).await,
        [(4, "contact.email".to_owned())]
    );
    let maju = customer(&app, &t, "maju@example.com").await;
    let pic = &maju["primary_contact"];
    assert_eq!(pic["name"], "Rina Wijaya", "{maju}");
    assert_eq!(pic["email"], "rina@maju.example");
    assert_eq!(pic["phone"], "+6281234567001");
    assert_eq!(contacts(&app, &t, &maju).await.len(), 1);
    let sentosa = customer(&app, &t, "sentosa@example.com").await;
    assert_eq!(sentosa["primary_contact"]["name"], "Agus", "{sentosa}");
    assert_eq!(sentosa["primary_contact"]["phone"], Value::Null);

    // An update re-import changes the PIC's phone: still one contact, its name kept.
    let again = "Nama,Email,Email PIC,HP PIC\n\
                 PT Maju Jaya,maju@example.com,rina@maju.example,+6281299990001\n";
    let dry = import(
        &app,
        &t,
        again,
        json!({"kind": "customers", "duplicate_policy": "update", "dry_run": true}),
    )
    .await;
    assert_eq!(counts(&dry), [1, 0, 1, 0, 0], "{dry}");
    let preview = &dry["progress"]["preview"][0];
    assert_eq!(
        preview["primary_contact"]["phone"], "+6281299990001",
        "{preview}"
    );
    assert_eq!(preview["primary_contact"]["name"], "Rina Wijaya");
    let job = import(
        &app,
        &t,
        again,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 1, 0, 0], "{job}");
    let maju = customer(&app, &t, "maju@example.com").await;
    assert_eq!(maju["primary_contact"]["phone"], "+6281299990001", "{maju}");
    assert_eq!(maju["primary_contact"]["name"], "Rina Wijaya");
    let list = contacts(&app, &t, &maju).await;
    assert_eq!(list.len(), 1, "{list:?}");
    // The same file again changes nothing.
    let job = import(
        &app,
        &t,
        again,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 0, 1, 0], "{job}");
    // A new PIC name without an e-mail replaces the primary's name in place.
    let renamed = "Nama,Email,Contact Person\nPT Maju Jaya,maju@example.com,Rina W.\n";
    let job = import(
        &app,
        &t,
        renamed,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 1, 0, 0], "{job}");
    let maju = customer(&app, &t, "maju@example.com").await;
    assert_eq!(maju["primary_contact"]["name"], "Rina W.", "{maju}");
    assert_eq!(maju["primary_contact"]["email"], "rina@maju.example");
    assert_eq!(contacts(&app, &t, &maju).await.len(), 1);
    // A bad PIC e-mail on an update is a rejected row too, and changes nothing.
    let bad = "Nama,Email,Email PIC\nPT Maju Jaya,maju@example.com,bukan email\n";
    let job = import(
        &app,
        &t,
        bad,
        json!({"kind": "customers", "duplicate_policy": "update"}),
    )
    .await;
    assert_eq!(counts(&job), [1, 0, 0, 0, 1], "{job}");
    assert_eq!(
        errors(&app, &t, &job).await,
        [(2, "contact.email".to_owned())]
    );
}

async fn an_explicit_mapping_targets_contact_fields(backend: DbBackend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let t = app.token(app.tenant("Toko").await, "admin");
    let body = "Customer,Mail,Person,Role,Cell\n\
                Gita,gita@example.com,Hana,Purchasing Manager,+6281234567010\n\
                Hadi,hadi@example.com,,Owner,+6281234567011\n";
    let mapping = json!({
        "Customer": "name",
        "Mail": "email",
        "Person": "contact.name",
        "Role": "contact.job_title",
        "Cell": "contact.mobile_phone",
    });
    let job = import(
        &app,
        &t,
        body,
        json!({"kind": "customers", "mapping": mapping}),
    )
    .await;
    assert_eq!(counts(&job), [2, 1, 0, 0, 1], "{job}");
    // A contact without a name is rejected naming `contact.name`.
    assert_eq!(
        errors(&app, &t, &job).await,
        [(3, "contact.name".to_owned())]
    );
    let gita = customer(&app, &t, "gita@example.com").await;
    let list = contacts(&app, &t, &gita).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Hana");
    assert_eq!(list[0]["job_title"], "Purchasing Manager");
    assert_eq!(list[0]["mobile_phone"], "+6281234567010");
    assert_eq!(list[0]["is_primary"], true);
    // The summary shows the mobile phone when the contact has no phone.
    assert_eq!(gita["primary_contact"]["phone"], "+6281234567010", "{gita}");
}

on_both_backends!(
    indonesian_pic_columns_make_the_primary_contact,
    an_explicit_mapping_targets_contact_fields,
);
