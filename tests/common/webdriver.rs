//! Just enough of a W3C WebDriver client for the page tests: chromedriver on a free port in
//! its own process group, one headless Chromium session with a private profile, and the few
//! commands the tests use. Everything started is killed when it is dropped, also when a test
//! fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium driven through chromedriver.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser. Panics when chromedriver or chromium is missing
    /// (`scripts/test.sh` installs them).
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("these tests need chromedriver (scripts/test.sh installs chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, port, session: String::new(), profile };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1400,1100".to_owned(),
            format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let created = browser.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"args": args}}}}),
        );
        browser.session = created["sessionId"].as_str().expect("a session").to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body =
            if method == "GET" || method == "DELETE" { String::new() } else { body.to_string() };
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut text = Vec::new();
        match length {
            Some(n) => {
                text.resize(n, 0);
                reader.read_exact(&mut text).unwrap();
            }
            None => {
                reader.read_to_end(&mut text).unwrap();
            }
        }
        let answer: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        assert!(status.contains(" 200 "), "{method} {path}: {status} {answer}");
        answer["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        self.call("POST", &self.session_path("/url"), json!({"url": url}));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its value.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            json!({"script": script, "args": args}),
        )
    }

    /// The text of the first element matching `css` (empty when there is none).
    pub fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.eval(script, json!([css])).as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the element matching `css` shows text containing `needle`.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(css);
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never showed `{needle}`; it shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            &self.session_path("/element"),
            json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element `{css}`: {found}")).to_owned()
    }

    /// Clicks the element matching `css`, as a user would.
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &self.session_path(&format!("/element/{id}/click")), json!({}));
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{id}/value")),
            json!({"text": text}),
        );
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call("GET", &self.session_path("/screenshot"), Value::Null);
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Ends the browser; a panic here would hide the test's own.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &self.session_path(""), Value::Null)
            }));
        }
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
        // Chromium's helpers may outlive the driver: find them by this test's profile.
        let profile = self.profile.path().display().to_string();
        let _ = Command::new("pkill").args(["-9", "-f", &profile]).status();
    }
}
