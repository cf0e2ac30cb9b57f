"""The shipped anatomical knowledge table, dataset-name resolution, and text templates.

``knowledge.json`` holds, per structure: id, name, synonyms, dataset aliases (e.g. TotalSegmentator's
``kidney_left``), laterality, system, category, location, modalities and a short definition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

KNOWLEDGE_PATH = Path(__file__).with_name("knowledge.json")


class VocabularyError(ValueError):
    """Unknown label names or unreadable vocabulary files."""


@dataclass(frozen=True)
class Concept:
    id: str
    name: str
    synonyms: tuple[str, ...] = ()
    laterality: str = "none"
    system: str = ""
    category: str = ""
    location: str = ""
    definition: str = ""
    known: bool = True    # False: a user-supplied name missing from the knowledge table

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@lru_cache(maxsize=1)
def knowledge() -> dict[str, Concept]:
    """alias key -> Concept for every id, name, synonym and alias in the table."""
    data = json.loads(KNOWLEDGE_PATH.read_text())
    index: dict[str, Concept] = {}
    for e in data["entries"]:
        concept = Concept(e["id"], e["name"], tuple(e.get("synonyms", ())), e.get("laterality", "none"),
                          e.get("system", ""), e.get("category", ""), e.get("location", ""), e.get("definition", ""))
        for alias in [e["id"], e["name"], *e.get("aliases", ())]:
            index.setdefault(_key(alias), concept)
    return index


def all_concepts() -> list[Concept]:
    seen: dict[str, Concept] = {}
    for c in knowledge().values():
        seen.setdefault(c.id, c)
    return list(seen.values())


def lookup(name: str) -> Concept | None:
    return knowledge().get(_key(name))


def resolve(name: str, strict: bool = True) -> Concept:
    """Dataset or free name -> Concept. Unknown names: error when strict, else a plain-words concept."""
    if not isinstance(name, str) or not name.strip():
        raise VocabularyError(f"invalid label name {name!r}")
    if len(name) > 200:
        raise VocabularyError(f"label name too long ({len(name)} characters)")
    concept = lookup(name)
    if concept is not None:
        return concept
    if strict:
        raise VocabularyError(f"unknown label name {name!r}: not in the knowledge table "
                              f"({KNOWLEDGE_PATH.name}); add it there or rename the label")
    words = re.sub(r"[_\s]+", " ", name).strip()
    return Concept(id=_key(name), name=words, known=False)


def resolve_all(names: list[str], strict: bool = True) -> list[Concept]:
    unknown = [n for n in names if strict and lookup(n) is None]
    if unknown:
        raise VocabularyError(f"unknown label names {unknown}: not in the knowledge table ({KNOWLEDGE_PATH.name})")
    return [resolve(n, strict=False) for n in names]


MAX_NAMES = 1000       # a vocabulary is ranked per request: each unknown name costs a text-encoder pass
MAX_NAME_CHARS = 200


def check_names(names: list[str], where: str) -> list[str]:
    """Refuse vocabularies too large to rank in interactive time (clear limit, not a minutes-long request)."""
    if len(names) > MAX_NAMES:
        raise VocabularyError(f"{where}: too many names ({len(names)} > {MAX_NAMES})")
    long = next((n for n in names if len(n) > MAX_NAME_CHARS), None)
    if long is not None:
        raise VocabularyError(f"{where}: a name is too long ({len(long)} characters > {MAX_NAME_CHARS})")
    return names


def read_vocabulary_file(path: str | Path) -> list[str]:
    """One name per line (``#`` comments allowed), or a labels.json ``{value: name}`` / JSON list."""
    path = Path(path)
    try:
        if path.stat().st_size > 10 * 1024 * 1024:
            raise VocabularyError(f"{path}: vocabulary file is too large ({path.stat().st_size} bytes)")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabularyError(f"{path}: cannot read vocabulary file ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VocabularyError(f"{path}: invalid JSON ({exc})") from None
        names = list(data.values()) if isinstance(data, dict) else data
    else:
        names = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    names = [n for n in names if isinstance(n, str) and n.strip()]
    if not names:
        raise VocabularyError(f"{path}: vocabulary file holds no names")
    return check_names(names, str(path))


MODALITY_WORDS = {"CT": "CT", "MR": "MR", "MRI": "MR"}
TEMPLATES = (
    "{name}",
    "the {name}",
    "a {modality} image of the {name}",
    "the {name} on {modality}",
    "{synonym}",
    "segmentation of the {name} in a {modality} scan",
    "{name}, {location}",
    "{name}: {definition}",
)


def sentences(concept: Concept, modality: str = "CT") -> list[str]:
    """All template sentences for a concept (used for ensembles and for training text sampling)."""
    mod = MODALITY_WORDS.get(modality.upper(), modality)
    syn = concept.synonyms[0] if concept.synonyms else concept.name
    out = []
    for t in TEMPLATES:
        if ("{location}" in t and not concept.location) or ("{definition}" in t and not concept.definition):
            continue
        out.append(t.format(name=concept.name, modality=mod, synonym=syn, location=concept.location,
                            definition=concept.definition))
    for s in concept.synonyms[1:]:
        out.append(s)
    return out


def global_sentence(modality: str, body_part: str) -> str:
    """Text for whole-image pairs (the global, image-level mode)."""
    return f"a {MODALITY_WORDS.get(modality.upper(), modality)} slice of the {body_part}"
