//! Hostile test plugin (wasm32-wasip1): on every event tries to read /etc/passwd and the service-account token, count env vars and args, list `/` and `.`, and connect to 127.0.0.1:6443; logs INFO `passwd=R token=R env=N args=N root=R cwd=R socket=R`, each R `denied` or `ALLOWED:<detail>`.

use std::fs::File;
use std::io::Read;
use std::net::TcpStream;

use event_controller_guest::{export_plugin, Event, Outcome};

const PASSWD: &str = "/etc/passwd";
const TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const SOCKET: &str = "127.0.0.1:6443";
/// How many bytes of a file that could be read are shown.
const SHOWN: usize = 16;

/// `ALLOWED:<up to 16 first bytes>`, each byte that is not printable ASCII (spaces included)
/// shown as `.` so the message stays one token per attempt; `denied` on any error.
fn read_file(path: &str) -> String {
    let mut first = [0u8; SHOWN];
    match File::open(path).and_then(|mut file| file.read(&mut first)) {
        Ok(n) => {
            let shown: String = first[..n]
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() {
                        char::from(b)
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("ALLOWED:{shown}")
        }
        Err(_) => "denied".to_owned(),
    }
}

/// `ALLOWED:<number of entries>`, or `denied` on any error.
fn list_dir(path: &str) -> String {
    match std::fs::read_dir(path) {
        Ok(entries) => format!("ALLOWED:{}", entries.count()),
        Err(_) => "denied".to_owned(),
    }
}

/// `ALLOWED:connected`, or `denied` on any error (wasip1's std has no sockets: always an error).
fn connect(addr: &str) -> String {
    match TcpStream::connect(addr) {
        Ok(_) => "ALLOWED:connected".to_owned(),
        Err(_) => "denied".to_owned(),
    }
}

fn handle_event(_event: &Event) -> Outcome {
    Outcome::info(format!(
        "passwd={} token={} env={} args={} root={} cwd={} socket={}",
        read_file(PASSWD),
        read_file(TOKEN),
        // The `_os` variants count the same entries but do not panic on non-UTF-8 ones.
        std::env::vars_os().count(),
        std::env::args_os().count(),
        list_dir("/"),
        list_dir("."),
        connect(SOCKET),
    ))
}

export_plugin!(handle_event);
