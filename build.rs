// Migrations are embedded at compile time (diesel_migrations::embed_migrations!); rebuild
// when any of them changes, including a new migration directory.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
