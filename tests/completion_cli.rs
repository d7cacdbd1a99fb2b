//! Shell completion through a real bash: the script `gc completion bash` prints, sourced, asks
//! gc itself, which completes commands, flags and the city's resource names; and man pages.

mod common;
use common::City;

const WORKER: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec: {}
";

/// What bash's completion offers for the words (the last one being completed) in `city`.
fn complete(city: &City, words: &[&str]) -> Vec<String> {
    let gc = assert_cmd::cargo::cargo_bin("gc");
    let script = format!(
        "source <(\"{gc}\" completion bash)\nCOMP_WORDS=({words})\nCOMP_CWORD={last}\nCOMP_TYPE=9\n\
         _clap_complete_gc gc \"${{COMP_WORDS[-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        gc = gc.display(),
        words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        last = words.len() - 1,
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(city.path())
        .env_remove("GC_CITY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_commands_and_the_citys_resource_names() {
    let city = City::new(WORKER);
    city.write("agents/mayor.yaml", &WORKER.replace("name: worker", "name: mayor"));
    assert!(city.gc().arg("apply").output().unwrap().status.success());

    assert_eq!(complete(&city, &["gc", "conv"]), ["convoy"]);
    assert_eq!(complete(&city, &["gc", "describe", "ag"]), ["agent/"]);
    assert_eq!(complete(&city, &["gc", "describe", "agent/"]), ["agent/mayor", "agent/worker"]);
    assert_eq!(complete(&city, &["gc", "describe", "agent/w"]), ["agent/worker"]);
    assert_eq!(complete(&city, &["gc", "sling", "m"]), ["mayor"]);
    assert!(complete(&city, &["gc", "session", "attach", "wor"]).contains(&"worker".to_owned()));
    assert!(complete(&city, &["gc", "formula", "show", "--"]).contains(&"--dot".to_owned()));
}

#[test]
fn other_shells_get_a_script_and_man_pages_are_written() {
    let city = City::new(WORKER);
    for shell in ["zsh", "fish"] {
        let out = city.gc().args(["completion", shell]).output().unwrap();
        let script = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success() && script.contains("GC_COMPLETE"), "{shell}: {script}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = city.gc().args(["completion", "man"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(dir.path().join("gc.1")).unwrap();
    assert!(page.contains(".TH gc 1"), "{page}");
    assert!(dir.path().join("gc-convoy.1").is_file());
    let err = city.gc().args(["completion", "man"]).output().unwrap();
    assert_eq!(err.status.code(), Some(2), "man needs a directory");
}

/// The release archive holds gc, a man page per command that `man` renders, and a completion
/// script per shell.
#[test]
fn the_release_package_carries_man_pages_and_completions() {
    let out_dir = tempfile::tempdir().unwrap();
    let gc = assert_cmd::cargo::cargo_bin("gc");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("scripts/package.sh"))
        .env("GC_PACKAGE_BIN", &gc)
        .env("GC_PACKAGE_OUT", out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let archive = std::fs::read_dir(out_dir.path()).unwrap().next().unwrap().unwrap().path();
    let unpacked = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(status.success());
    let top = std::fs::read_dir(unpacked.path()).unwrap().next().unwrap().unwrap().path();
    let name = top.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("gc-{}-", env!("CARGO_PKG_VERSION"))), "{name}");
    let version = std::process::Command::new(top.join("bin/gc")).arg("--version").output().unwrap();
    assert!(version.status.success());
    for file in ["share/completions/gc.bash", "share/completions/_gc", "share/completions/gc.fish"]
    {
        let text = std::fs::read_to_string(top.join(file)).unwrap();
        assert!(text.contains("GC_COMPLETE"), "{file}: {text}");
    }
    let page = top.join("share/man/man1/gc-convoy.1");
    assert!(page.is_file(), "a page per command");
    if std::process::Command::new("man").arg("--version").output().is_ok() {
        let shown = std::process::Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(shown.status.success() && text.contains("gc-convoy"), "{text}");
    }
    assert!(top.join("schemas/v1alpha1/all.json").is_file());
}
