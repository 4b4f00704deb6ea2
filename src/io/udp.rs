//! Built-in UDP (`pktize --udp`, `unpktize --udp`): one packet per datagram, many datagrams
//! per system call (sendmmsg, recvmmsg), unicast or IPv4 multicast. Netcat and socat decide
//! for themselves where datagrams begin and end; these do not.
//!
//! [`UdpSender`] is a `Write` that takes whole packets back to back (as `pktize` writes
//! them: each packet's length is in its header) and sends each as one datagram.
//! [`UdpReceiver`] fills slots of a buffer with datagrams, waiting at most an idle time.
//! Neither knows what the packets mean.

use crate::wire::HEADER_LEN;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

/// Datagrams per sendmmsg or recvmmsg call.
const BATCH: usize = 64;
/// The receive buffer asked of the kernel: a burst of about 8 MiB of datagrams waits
/// there while the receiver writes or decodes (the kernel caps it unless privileged).
const RECEIVE_BUFFER: usize = 8 << 20;
/// The longest a receiver waits before it looks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

/// Where to send or listen, parsed from `HOST:PORT` (`:PORT` for any address).
pub fn parse_addr(text: &str) -> io::Result<SocketAddrV4> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("expected [ADDRESS]:PORT such as 127.0.0.1:9000, found \"{text}\""),
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    }
    let found = (host, port).to_socket_addrs().map_err(|_| bad())?;
    found
        .filter_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(bad)
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Pending bytes past which an unpaced sender sends its whole packets.
const SEND_AT: usize = 256 << 10;

/// Sends whole packets, one per datagram, to one address.
pub struct UdpSender {
    socket: UdpSocket,
    /// Bytes written but not yet sent: whole packets, then perhaps the start of one.
    pending: Vec<u8>,
    /// Send the whole packets of every write at once (the writer paces its writes),
    /// rather than gathering [`SEND_AT`] bytes first.
    paced: bool,
}

impl UdpSender {
    /// A socket connected to `to`; `ttl` sets the hop limit (unicast and multicast),
    /// `interface` the local address multicast leaves from.
    pub fn connect(
        to: SocketAddrV4,
        ttl: Option<u32>,
        interface: Option<Ipv4Addr>,
    ) -> io::Result<UdpSender> {
        let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        if let Some(ttl) = ttl {
            socket.set_ttl(ttl)?;
            socket.set_multicast_ttl_v4(ttl)?;
        }
        if let Some(addr) = interface {
            let a = libc::in_addr {
                s_addr: u32::from(addr).to_be(),
            };
            setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                &a,
            )?;
        }
        socket.connect(to)?;
        Ok(UdpSender {
            socket,
            pending: Vec::with_capacity(1 << 20),
            paced: false,
        })
    }

    /// Send what each write brings as soon as it is whole packets: its writer paces its
    /// writes, and a batch gathered from several would leave as one burst.
    pub fn paced(self) -> UdpSender {
        UdpSender {
            paced: true,
            ..self
        }
    }

    /// Send every whole packet pending, in batches.
    fn send_whole(&mut self) -> io::Result<()> {
        let mut at = 0;
        loop {
            let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let mut n = 0;
            let mut end = at;
            while n < BATCH && self.pending.len() >= end + HEADER_LEN {
                let payload = u16::from_be_bytes([self.pending[end + 4], self.pending[end + 5]]);
                let len = HEADER_LEN + usize::from(payload);
                if self.pending.len() < end + len {
                    break;
                }
                iov[n] = libc::iovec {
                    iov_base: self.pending[end..].as_mut_ptr().cast(),
                    iov_len: len,
                };
                end += len;
                n += 1;
            }
            if n == 0 {
                break;
            }
            for i in 0..n {
                msgs[i].msg_hdr.msg_iov = &mut iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            let mut sent = 0;
            while sent < n {
                // SAFETY: msgs[sent..n] point into `pending`, which outlives the call.
                let rc = unsafe {
                    libc::sendmmsg(
                        self.socket.as_raw_fd(),
                        msgs[sent..].as_mut_ptr(),
                        (n - sent) as u32,
                        0,
                    )
                };
                if rc < 0 {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        // Nothing listens (an ICMP refusal): the reader went away.
                        Some(libc::ECONNREFUSED) => {
                            return Err(io::Error::new(io::ErrorKind::BrokenPipe, e))
                        }
                        // A full queue: the datagram is lost, as on the wire.
                        Some(libc::ENOBUFS) => {
                            sent += 1;
                            continue;
                        }
                        _ => return Err(e),
                    }
                }
                sent += rc as usize;
            }
            at = end;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

impl Write for UdpSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// Takes every slice (one batch of the writer's), then sends what is due.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut taken = 0;
        for b in bufs {
            self.pending.extend_from_slice(b);
            taken += b.len();
        }
        if self.paced || self.pending.len() >= SEND_AT {
            self.send_whole()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_whole()
    }
}

/// Receives datagrams on one port, joined to a multicast group when its address is one.
pub struct UdpReceiver {
    socket: UdpSocket,
    idle: Option<Duration>,
}

impl UdpReceiver {
    /// Listen on `at` (a multicast address: join it, on `interface` or any); stop waiting
    /// after `idle` without a datagram.
    pub fn bind(
        at: SocketAddrV4,
        interface: Option<Ipv4Addr>,
        idle: Option<Duration>,
    ) -> io::Result<UdpReceiver> {
        // SAFETY: a new socket; its descriptor is owned by the UdpSocket below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a valid socket we own.
        let socket = unsafe { UdpSocket::from_raw_fd(fd) };
        let one: libc::c_int = 1;
        // Several receivers of one group on one host share the port.
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
        let size = RECEIVE_BUFFER as libc::c_int;
        if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
            let _ = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size);
        }
        let multicast = at.ip().is_multicast();
        let bind_to = match multicast {
            true => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, at.port()),
            false => at,
        };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: bind_to.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*bind_to.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: sa is a valid sockaddr_in of the size passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if multicast {
            socket.join_multicast_v4(at.ip(), &interface.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
        }
        // Woken this often, to notice a stop request (a signal may not interrupt a wait).
        socket.set_read_timeout(Some(idle.map_or(POLL, |i| i.min(POLL))))?;
        Ok(UdpReceiver { socket, idle })
    }

    /// The local address, with the port the system chose for port 0.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wait for datagrams (at most the idle time), then take as many as are queued, up to
    /// as many as `buf` has slots of `slot` bytes; `lens` gets their lengths. Returns how
    /// many arrived: 0 when the idle time passed without one.
    pub fn recv_batch(
        &mut self,
        buf: &mut [u8],
        slot: usize,
        lens: &mut Vec<usize>,
    ) -> io::Result<usize> {
        let count = (buf.len() / slot).min(BATCH);
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, chunk) in buf.chunks_exact_mut(slot).take(count).enumerate() {
            iov[i] = libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: slot,
            };
        }
        for i in 0..count {
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        lens.clear();
        let mut waited = Duration::ZERO;
        loop {
            // SAFETY: msgs point into `buf`, which outlives the call. SO_RCVTIMEO bounds
            // the wait for the first datagram; MSG_WAITFORONE takes the rest queued.
            let rc = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    count as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR | libc::EAGAIN) if crate::io::stop_requested() => {
                        return Ok(0)
                    }
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => {
                        waited += self.socket.read_timeout()?.unwrap_or(POLL);
                        if self.idle.is_some_and(|idle| waited >= idle) {
                            return Ok(0);
                        }
                        continue;
                    }
                    _ => return Err(e),
                }
            }
            let n = rc as usize;
            lens.extend(msgs[..n].iter().map(|m| m.msg_len as usize));
            return Ok(n);
        }
    }
}
