//! A city whose beads live in PostgreSQL (`beads.backend: postgres`), end to end: `gc apply`
//! creates the city's store in the server, `gc sling` puts work into the rig's store there,
//! the sample pool's agents (`bd` in their sessions, which get the connection string's
//! variable) claim and close it, and `gc bd` reads it back. The rows are in the server, in the
//! store's own schema; no SQLite file is made. Against a real server of this test's own (see
//! tests/common/postgres.rs); skipped when PostgreSQL is not installed (and not required).

#[path = "common/postgres.rs"]
mod pg;
#[path = "common/sample.rs"]
mod sample;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use gascity::beads::postgres::schema_name;
use tmux_city::wait_until;

const URL_ENV: &str = "GC_TEST_BEADS_URL";

#[test]
fn the_sample_pool_works_beads_kept_in_postgres() {
    let Some(server) = pg::server() else { return };
    // SAFETY: set once, to the same value, by the only test that reads it through the
    // environment of gc's children (the other passes it to each command).
    unsafe { std::env::set_var(URL_ENV, server.url()) };
    let city = sample::sample_city("gcpg", "pgtown");
    let city_yaml = city.path().join("city.yaml");
    let text = std::fs::read_to_string(&city_yaml).unwrap();
    let text = text.replacen(
        "  beads:\n    backend: embedded\n",
        &format!("  beads:\n    backend: postgres\n    urlEnv: {URL_ENV}\n"),
        1,
    );
    assert!(text.contains("backend: postgres"), "the sample city.yaml changed shape");
    std::fs::write(&city_yaml, text).unwrap();
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    let mut ids = Vec::new();
    for n in 1..=5 {
        let out = city.run(&["sling", "worker", &format!("Postgres task {n}"), "--json"]);
        let slung: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(slung["id"].as_str().unwrap().to_owned());
    }
    wait_until("the pool to close the 5 beads", Duration::from_secs(120), || {
        let beads = sample::rig_beads(&city);
        beads.len() == 5 && beads.iter().all(|b| b["status"] == "closed")
    });
    for bead in sample::rig_beads(&city) {
        let assignee = bead["assignee"].as_str().unwrap_or_default();
        assert!(assignee.starts_with("worker-"), "claimed by a pool member: {bead}");
        assert_eq!(bead["close_reason"], format!("done by {assignee}"), "{bead}");
    }

    // The rows are in the server, in the rig store's schema.
    let prefix = ids[0].split('-').next().unwrap();
    let schema = schema_name("pgtown", prefix);
    let mut client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let rows =
        client.query(&format!("SELECT id, status FROM {schema}.issues ORDER BY id"), &[]).unwrap();
    let mut stored: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    stored.sort();
    let mut want: Vec<(String, String)> =
        ids.iter().map(|id| (id.clone(), "closed".to_owned())).collect();
    want.sort();
    assert_eq!(stored, want);
    assert!(
        !city.path().join("rigs/demo-repo/.beads/beads.db").exists(),
        "no SQLite store is made"
    );
    // The connection string is never shown: not in the store's config, not in events.
    let config =
        std::fs::read_to_string(city.path().join("rigs/demo-repo/.beads/gc-store.json")).unwrap();
    assert!(config.contains(URL_ENV) && !config.contains(&server.url()), "{config}");
    let events = std::fs::read_to_string(city.path().join(".gc/events.jsonl")).unwrap();
    assert!(!events.contains(&server.socket_dir.display().to_string()), "no URL in events");
    city.run(&["stop"]);

    // gc doctor opens the stores in the server; without the variable, it says what to export.
    let doctor = |with_url: bool| -> Vec<serde_json::Value> {
        let mut cmd = city.gc();
        cmd.args(["doctor", "-o", "json"]);
        if !with_url {
            cmd.env_remove(URL_ENV);
        }
        let out = cmd.output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let store_check = |checks: &[serde_json::Value], name: &str| {
        checks.iter().find(|c| c["name"] == name).cloned().unwrap_or_default()
    };
    let checks = doctor(true);
    assert_eq!(store_check(&checks, "beads/city")["level"], "ok", "{checks:#?}");
    assert_eq!(store_check(&checks, "beads/demo")["level"], "ok", "{checks:#?}");
    let checks = doctor(false);
    let city_store = store_check(&checks, "beads/city");
    assert_eq!(city_store["level"], "fail", "{checks:#?}");
    assert!(city_store["fix"].as_str().unwrap().starts_with(&format!("export {URL_ENV}")));
}

/// `bd init --postgres VAR` outside any city: the store lives in PostgreSQL, and the bd verbs
/// agents use work against it; without the variable set, bd says which variable is missing.
#[test]
fn bd_init_makes_a_postgres_store_the_bd_verbs_work_against() {
    let Some(server) = pg::server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let var = "GC_TEST_BD_POSTGRES_URL";
    let bd = |args: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
            .arg("bd")
            .args(args)
            .current_dir(dir.path())
            .env_remove("BEADS_DIR")
            .env_remove("GC_CITY")
            .env(var, server.url())
            .output()
            .unwrap();
        assert!(out.status.success(), "bd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    bd(&["init", "--prefix", "pgbd", "--postgres", var]);
    let created = bd(&["create", "Parse the config", "-p", "1", "--json"]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pgbd-"), "{created}");
    let ready = bd(&["ready", "--json"]);
    assert_eq!(ready[0]["id"], id.as_str());
    bd(&["update", &id, "--claim", "--actor", "worker-1", "--json"]);
    bd(&["close", &id, "--reason", "done", "--json"]);
    let shown = bd(&["show", &id, "--json"]);
    let shown = shown.get(0).unwrap_or(&shown);
    assert_eq!(
        (shown["status"].as_str(), shown["assignee"].as_str()),
        (Some("closed"), Some("worker-1"))
    );
    // The row is in the server.
    let mut client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let schema = schema_name("bd", "pgbd");
    let row = client
        .query_one(&format!("SELECT status FROM {schema}.issues WHERE id = $1"), &[&id])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "closed");
    // Without the variable: a clear error naming it, nothing printed of any URL.
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
        .args(["bd", "list", "--json"])
        .current_dir(dir.path())
        .env_remove("BEADS_DIR")
        .env_remove(var)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("${var}")) && err.contains("not set"), "{err}");
}
