fn main() {
    // Debug info lets the UI tests find elements by accessible label (see NOTES.md).
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_debug_info(true)
        .with_bundled_translations("ui/translations");
    slint_build::compile_with_config("ui/app.slint", config).expect("Slint markup must compile");
}
