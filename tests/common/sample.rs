//! The built-in sample city (`gc init`) on a tmux socket of its own, for end-to-end tests
//! where its script agents do real work. Include next to `common/tmux.rs` as `tmux_city`.
#![allow(dead_code)] // each test crate uses its own subset

use serde_json::Value;

use super::tmux_city::TmuxCity;

/// `gc init` into a fresh directory named `name`, its sessions on the city's own socket.
pub fn sample_city(tag: &str, name: &str) -> TmuxCity {
    let city = TmuxCity::new(tag);
    let path = city.path();
    city.run(&["init", path.to_str().unwrap(), "--name", name]);
    let city_yaml = path.join("city.yaml");
    let text = std::fs::read_to_string(&city_yaml).unwrap();
    let text = text.replacen(
        "    backend: tmux\n",
        &format!("    backend: tmux\n    socket: {}\n", city.socket),
        1,
    );
    assert!(text.contains(&city.socket), "the sample city.yaml changed shape");
    std::fs::write(&city_yaml, text).unwrap();
    city
}

/// Every bead of the sample city's demo rig, closed ones included.
pub fn rig_beads(city: &TmuxCity) -> Vec<Value> {
    let out = city
        .gc()
        .args(["bd", "list", "--all", "--limit", "0", "--json"])
        .current_dir(city.path().join("rigs/demo-repo"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}
