//! A process-wide setting for libpq's TLS library, made before the first PostgreSQL
//! connection.
//!
//! libpq encrypts with the system's OpenSSL, and OpenSSL's first initialisation registers
//! `OPENSSL_cleanup` with `atexit`. When the process exits while another thread still holds
//! a TLS connection (a pool's idle connections, a worker mid-query — normal at shutdown and
//! at the end of a test run), the cleanup frees OpenSSL's global state under that thread:
//! `double free or corruption`, SIGSEGV or SIGBUS instead of a clean exit. Reproduced with
//! libpq alone on this machine (six threads querying over TLS, `exit(0)` after 150 ms:
//! 7 of 60 runs crashed; 0 of 60 with the call below), and seen once as a SIGABRT after
//! the whole PostgreSQL test suite had passed.
//!
//! rust-openssl avoids this by initialising with `OPENSSL_INIT_NO_ATEXIT`; libpq does not,
//! so [`prepare`] does it first. The symbol is looked up at run time in the libraries
//! already loaded (libpq brings libcrypto), so there is no link-time dependency on OpenSSL
//! and nothing happens where libpq is built without it. The OS reclaims the memory at exit.

use std::sync::Once;

/// `OPENSSL_INIT_NO_ATEXIT` from OpenSSL's `crypto.h` (1.1.1 and 3.x).
const OPENSSL_INIT_NO_ATEXIT: u64 = 0x0008_0000;

static PREPARED: Once = Once::new();

/// Makes OpenSSL's base initialisation without an exit handler, once per process. Call it
/// before the first PostgreSQL connection; later calls do nothing.
pub fn prepare() {
    PREPARED.call_once(|| {
        #[cfg(unix)]
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the loaded
        // objects' symbol tables. When found, the symbol is OpenSSL's
        // `int OPENSSL_init_crypto(uint64_t opts, const OPENSSL_INIT_SETTINGS *settings)`,
        // which is thread-safe and accepts a null `settings`.
        unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"OPENSSL_init_crypto".as_ptr());
            if !symbol.is_null() {
                type InitCrypto = unsafe extern "C" fn(u64, *const libc::c_void) -> libc::c_int;
                let init = std::mem::transmute::<*mut libc::c_void, InitCrypto>(symbol);
                init(OPENSSL_INIT_NO_ATEXIT, std::ptr::null());
            }
        }
    });
}
