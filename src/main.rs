fn main() {
    println!("kiosk");
}
