//! `sandport` (minimal dispatch on the `lsp` branch; the CLI lands on main).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("lsp") => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(sandport::lsp::run());
        }
        _ => {
            eprintln!("usage: sandport lsp");
            std::process::exit(2);
        }
    }
}
