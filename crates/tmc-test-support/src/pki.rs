//! A test PKI: a CA and a server certificate for 127.0.0.1, from the real `openssl` (for
//! the TLS tests of the API and of the S3 server).

use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is missing ({e}): install it with `apt-get install -y openssl`")
        });
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made with the real `openssl` in
/// `dir`: the paths of (`ca.pem`, the certificate, its key).
pub fn test_pki(dir: &Path) -> (String, String, String) {
    let p = |name: &str| dir.join(name).display().to_string();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=dm-test-ca"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            &["-keyout", &p("ca.key"), "-out", &p("ca.pem")],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &p("api.key"),
                "-out",
                &p("api.csr"),
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("api.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", dir.display()));
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("api.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("api.ext"),
        "-out",
        &p("api.pem"),
    ]);
    (p("ca.pem"), p("api.pem"), p("api.key"))
}
