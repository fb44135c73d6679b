"""A PEP 517 build backend in the standard library alone: wheels (and
editable wheels) of the pure-Python package under src/, and sdists.

pip runs it in place of setuptools (pyproject.toml: backend-path), so an
install needs nothing from a package index. The metadata is read from
pyproject.toml's [project] table (its string fields).
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRC = os.path.join(_HERE, "src")
_FIELDS = ("name", "version", "description", "requires-python", "readme")


def _project():
    """The [project] table's string fields."""
    with open(os.path.join(_HERE, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"^\[project\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    out = {}
    for key in _FIELDS:
        m = re.search(rf'^{re.escape(key)}\s*=\s*"([^"]*)"', table.group(1) if table else "", re.M)
        if m:
            out[key] = m.group(1)
    return out


def _dist_name(project):
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}",
             f"Version: {project['version']}", f"Summary: {project.get('description', '')}"]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines.append("Classifier: Typing :: Typed")
    body = ""
    if "readme" in project:
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(_HERE, project["readme"]), encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def _dist_info(project):
    info = f"{_dist_name(project)}-{project['version']}.dist-info"
    wheel = "Wheel-Version: 1.0\nGenerator: pulsedb build_backend\nRoot-Is-Purelib: true\n" \
            "Tag: py3-none-any\n"
    return info, {f"{info}/METADATA": _metadata(project).encode(),
                  f"{info}/WHEEL": wheel.encode()}


def _package_files():
    """(path in the wheel, path on disk) of every file of the packages in src/."""
    for root, dirs, files in os.walk(_SRC):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            disk = os.path.join(root, name)
            yield os.path.relpath(disk, _SRC).replace(os.sep, "/"), disk


def _write_wheel(directory, entries):
    project = _project()
    info, meta = _dist_info(project)
    name = f"{_dist_name(project)}-{project['version']}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in list(entries) + list(meta.items()):
            whl.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{path},sha256={digest.decode()},{len(data)}")
        records.append(f"{info}/RECORD,,")
        whl.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, ((p, _read(d)) for p, d in _package_files()))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel holding one .pth file that puts src/ on sys.path."""
    pth = f"{_dist_name(_project())}.pth"
    return _write_wheel(wheel_directory, [(pth, (_SRC + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for top in ("pyproject.toml", "build_backend.py", project.get("readme", "README.md")):
            tar.add(os.path.join(_HERE, top), f"{base}/{top}")
        for path, disk in _package_files():
            tar.add(disk, f"{base}/src/{path}")
        pkg_info = _metadata(project).encode()
        member = tarfile.TarInfo(f"{base}/PKG-INFO")
        member.size = len(pkg_info)
        tar.addfile(member, io.BytesIO(pkg_info))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []
