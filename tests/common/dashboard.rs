//! A running `gc dashboard` for the tests: started as a child in its own process group and
//! killed as a group when dropped; plain HTTP/1.1 requests over a socket.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::tmux_city::TmuxCity;

const LONG: Duration = Duration::from_secs(20);

/// A running `gc dashboard`, killed with its whole process group when dropped.
pub struct Dashboard {
    child: Child,
    /// Kept open: a closed pipe would end the dashboard at its next line of output.
    _stdout: BufReader<std::process::ChildStdout>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The token it printed.
    pub token: String,
}

impl Dashboard {
    pub fn start(city: &TmuxCity, listen: &str) -> Dashboard {
        let mut child = city
            .gc()
            .args(["dashboard", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        // `dashboard: http://HOST:PORT/?token=TOKEN`
        let url = first.trim().strip_prefix("dashboard: http://").expect("the URL is printed");
        let (addr, token) = url.split_once("/?token=").unwrap();
        Dashboard { child, _stdout: stdout, addr: addr.to_owned(), token: token.to_owned() }
    }

    /// One request; returns the status code and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        // A `Host` among `headers` replaces the dashboard's own address.
        let host = headers.iter().find(|(n, _)| *n == "Host").map_or(self.addr.as_str(), |h| h.1);
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers.iter().filter(|(n, _)| *n != "Host") {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        text.push_str(body);
        stream.write_all(text.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (code, body)
    }

    pub fn get(&self, path: &str) -> Value {
        let (code, body) = self.request("GET", path, &[], "");
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// Opens the events stream with `headers`; returns a reader positioned after the headers.
    pub fn stream(&self, headers: &[(&str, &str)]) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(LONG)).unwrap();
        let mut text = format!("GET /api/v1/events/stream HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        (&stream).write_all(text.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                return reader;
            }
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        // The whole group: the dashboard and anything it started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Dashboard {
    /// The page's URL, with the token.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }
}
