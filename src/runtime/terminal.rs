//! The person's terminal, for attaching to a session that runs elsewhere (a pod): raw mode
//! while attached, its size, and its keys read on a thread of their own.

use std::io::Read;

/// Raw mode on stdin while this lives (nothing when stdin is no terminal); the terminal's
/// settings are put back when it drops, also on an error.
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode: keys arrive one by one, unechoed, with Ctrl-C and
    /// Ctrl-Z as bytes for the session rather than signals for gc.
    pub fn enable() -> RawMode {
        // SAFETY: termios is plain data; tcgetattr fills it or fails, and fd 0 is only read.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::isatty(0) != 1 || libc::tcgetattr(0, &mut saved) != 0 {
                return RawMode { saved: None };
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return RawMode { saved: None };
            }
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores settings read from the same descriptor.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// The terminal's size as (columns, rows), from stdout or else stdin; `None` when neither is
/// a terminal.
pub fn size() -> Option<(u16, u16)> {
    for fd in [1, 0] {
        // SAFETY: TIOCGWINSZ writes a winsize into the struct given, or fails.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
            return Some((size.ws_col, size.ws_row));
        }
    }
    None
}

/// Reads stdin on a thread of its own and sends what arrives, until stdin ends or the
/// receiver is gone. (A read blocked on a terminal cannot be cancelled; the thread ends with
/// the process.)
pub fn forward_stdin(keys: tokio::sync::mpsc::Sender<Vec<u8>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if keys.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
}
