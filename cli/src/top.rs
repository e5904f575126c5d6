//! `monitor-cli top`: the server's `top`, refreshed full-screen until `q`.
//!
//! Each refresh is one `top` command: the server takes its two samples the
//! interval apart on the monitor's thread, so the refresh rate is the
//! interval and the application is never paused. The screen is the
//! terminal's alternate screen; keys are read unbuffered on a thread of
//! their own so `q` (or Esc, or Ctrl-C) ends at once, even in the middle
//! of an interval, and the terminal is always put back as it was.

use std::{
    io::{self, Read, Write},
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    catalog::Outcome,
    conn::{self, Connection},
    style::{ColorChoice, Style},
};

const ENTER_SCREEN: &str = "\x1b[?1049h\x1b[?25l";
const LEAVE_SCREEN: &str = "\x1b[?25h\x1b[?1049l";
const HOME_AND_CLEAR: &str = "\x1b[H\x1b[2J";

/// Whether `words` (the command after the options) asks for `top`.
pub(crate) fn is_top(words: &[String]) -> bool {
    words.first().is_some_and(|word| word == "top")
}

/// Refreshes `line` (a `top …` command) full-screen until a quit key.
/// A reply that is an error (a bad interval, say) leaves the screen and is
/// printed like any failed command.
pub(crate) fn run(
    conn: &mut Connection,
    line: &str,
    timeout: Duration,
    color: ColorChoice,
) -> Result<ExitCode, conn::Error> {
    let screen = Arc::new(Mutex::new(Screen::enter()?));
    let keys = Arc::clone(&screen);
    std::thread::Builder::new()
        .name("monitor-cli-keys".into())
        .spawn(move || wait_for_quit(&keys))
        .map_err(conn::Error::Io)?;
    // The command's own interval (at most 60 s) plus the usual timeout.
    let within = timeout + Duration::from_secs(60);
    let outcome = loop {
        let reply = match conn.request_within(line, within) {
            Ok(reply) if !reply.closed => reply,
            Ok(reply) => break Err(conn::Error::Closed { text: reply.text }),
            Err(err) => break Err(err),
        };
        match reply.outcome() {
            Outcome::Success => {
                let mut screen = screen.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(err) = screen.draw(line, &reply.text) {
                    break Err(err);
                }
            }
            Outcome::Failure { error, .. } => break Ok(error),
        }
    };
    // The key thread keeps its handle on the screen: leave it explicitly.
    screen.lock().unwrap_or_else(|e| e.into_inner()).leave();
    let error = outcome?;
    eprintln!("{}", Style::stderr(color).error(&error));
    Ok(ExitCode::from(crate::EXIT_FAILED))
}

/// Blocks on stdin until `q`, `Q`, Esc, Ctrl-C or Ctrl-D (or end of
/// input), then restores the terminal and ends the process.
fn wait_for_quit(screen: &Mutex<Screen>) {
    let mut stdin = io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) if matches!(byte[0], b'q' | b'Q' | 0x1b | 0x03 | 0x04) => break,
            Ok(_) => {}
        }
    }
    // Holding the lock: no frame is half-drawn when the screen is left.
    let mut screen = screen.lock().unwrap_or_else(|e| e.into_inner());
    screen.leave();
    std::process::exit(0);
}

/// The terminal while `top` owns it: alternate screen, no echo, keys
/// unbuffered. Put back by [`Screen::leave`] or on drop.
struct Screen {
    #[cfg(unix)]
    saved: Option<libc::termios>,
    active: bool,
}

impl Screen {
    fn enter() -> Result<Self, conn::Error> {
        let screen = Self {
            #[cfg(unix)]
            saved: raw_keys(),
            active: true,
        };
        let mut out = io::stdout().lock();
        out.write_all(ENTER_SCREEN.as_bytes())
            .and_then(|()| out.flush())
            .map_err(conn::Error::Io)?;
        Ok(screen)
    }

    fn draw(&mut self, line: &str, text: &str) -> Result<(), conn::Error> {
        let mut frame = String::with_capacity(text.len() + 128);
        frame.push_str(HOME_AND_CLEAR);
        frame.push_str(&format!("monitor-cli: {line}   (q to quit)\r\n\r\n"));
        // Raw mode turns off the terminal's LF → CRLF translation.
        frame.push_str(&text.replace('\n', "\r\n"));
        let mut out = io::stdout().lock();
        out.write_all(frame.as_bytes())
            .and_then(|()| out.flush())
            .map_err(conn::Error::Io)
    }

    fn leave(&mut self) {
        if !std::mem::take(&mut self.active) {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = out.write_all(LEAVE_SCREEN.as_bytes());
        let _ = out.flush();
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            // SAFETY: restoring attributes read from the same descriptor.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved);
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Switches stdin to unbuffered, unechoed keys (Ctrl-C arrives as a byte
/// instead of killing the process with the terminal left raw) and returns
/// the previous settings; `None` when stdin is not a terminal.
#[cfg(unix)]
fn raw_keys() -> Option<libc::termios> {
    // SAFETY: `termios` is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a valid pointer.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
        return None;
    }
    let mut raw = saved;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
    raw.c_oflag &= !libc::OPOST;
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: as above, with settings derived from the current ones.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
        return None;
    }
    Some(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_top_command_goes_full_screen() {
        let words = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(is_top(&words("top -i 2s")));
        assert!(!is_top(&words("ps --sort busy")));
        assert!(!is_top(&[]));
    }
}
