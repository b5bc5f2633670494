"""Running the capture engine from Blender: finding and checking its Python, the subprocess jobs (capture
with JSON-lines progress, engine set-up), and one capture as the modal operator drives it."""
