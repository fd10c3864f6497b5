"""Where frames come from: capture files, live interfaces and remote netlab servers."""
