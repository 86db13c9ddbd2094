//! Notices when an HTTP client hangs up mid-run, so that its sandbox is killed at once instead of
//! running to its timeout. actix-web keeps running a handler after its client has gone, so the
//! connection's socket is watched directly.

use std::any::Any;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::HttpRequest;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

const CHECK_EVERY: Duration = Duration::from_millis(200);

/// A duplicate of the connection's socket fd. A dup, so that the fd number stays ours even if
/// actix closes its own and the number is reused.
#[derive(Clone)]
struct ClientSocket(Arc<OwnedFd>);

/// For `HttpServer::on_connect`: remembers each TCP connection's socket.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Ok(fd) = stream.as_fd().try_clone_to_owned() {
            ext.insert(ClientSocket(Arc::new(fd)));
        }
    }
}

/// Resolves when the client of `req` has closed its side of the connection; never, if unknown.
/// The future does not borrow `req`, so that a streaming body can keep it.
pub fn client_gone(req: &HttpRequest) -> impl Future<Output = ()> + 'static {
    let socket = req.conn_data::<ClientSocket>().cloned();
    async move {
        let Some(socket) = socket else {
            return std::future::pending().await;
        };
        // POLLRDHUP: the peer shut down its writing side (close, or a timed-out client giving
        // up). Only it is asked for, and POLLHUP/POLLERR always come, so any ready fd means
        // "gone". (nix's PollFlags has no POLLRDHUP, so revents cannot be decoded; the count
        // suffices.)
        let rdhup = PollFlags::from_bits_retain(nix::libc::POLLRDHUP);
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let mut fds = [PollFd::new(socket.0.as_fd(), rdhup)];
            if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0) {
                return;
            }
        }
    }
}
