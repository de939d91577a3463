fn main() {
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_bundled_translations("ui/translations");
    slint_build::compile_with_config("ui/app.slint", config).expect("Slint markup must compile");
}
