"""`cenv image`: a lock becomes an OCI image archive (see oci.py for the format, build.py for the layout)."""
