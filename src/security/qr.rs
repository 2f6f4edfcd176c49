//! QR codes as SVG, for the TOTP enrolment screen. One `<path>` of unit squares, with a
//! 4-module quiet zone (what scanners expect), black on white whatever the page's theme.

use qrcodegen::{QrCode, QrCodeEcc};

pub fn svg(text: &str) -> anyhow::Result<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).map_err(|e| anyhow::anyhow!("QR encoding failed: {e:?}"))?;
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/><path d=\"{path}\" fill=\"#000000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_an_svg_with_modules() {
        let s = super::svg("otpauth://totp/Organizeo:ada?secret=ABC&issuer=Organizeo").unwrap();
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(s.matches('M').count() > 100, "a real QR has many dark modules");
    }
}
