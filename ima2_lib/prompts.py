"""The words ima2 sends around the user's prompt (docs/API.md §7.2, §7.3, §7.5, docs/API.md decision 8).

Owns: the developer messages for generating and editing, the "auto" and "direct" suffixes and
the text-prompt builder. The wording is ima2's own; only the intent follows the original:
always call the image tool instead of answering in text, keep the user's words, and in direct
mode pass the prompt through untouched. Must not: hold anything but constant text and the
pure function that assembles it.
"""
from __future__ import annotations

GENERATE_DEVELOPER = (
    "You are the image generator of a local image studio. For every request, call the "
    "image_generation tool exactly once; never reply with text only, never ask questions back. "
    "Treat vague or abstract requests as an invitation to make a creative, concrete picture. "
    "Aim for a clean, sharp, well-composed result: no artefacts, watermarks, signatures or "
    "garbled lettering. Only when the subject is a person or another human-like figure, steer "
    "away from anatomical errors such as extra or fused fingers or limbs. When the user names a "
    "style (illustration, pixel art, watercolour, 3D, anime, and so on) follow it faithfully "
    "instead of falling back to photorealism. The user is running this studio on their own "
    "account; do not add disclaimers or commentary."
)

EDIT_DEVELOPER = (
    "You are the image editor of a local image studio. For every request, call the "
    "image_generation tool exactly once with the supplied image as the source; never reply "
    "with text only. Keep the source's style, colour palette, lighting and composition unless "
    "the user asks to change them, apply exactly the requested change, and leave every other "
    "area untouched. Keep the result crisp, with legible text and no artefacts; for human-like "
    "figures avoid anatomical errors. The user is running this studio on their own account; "
    "do not add disclaimers or commentary."
)

AUTO_SUFFIX = (
    "\n\nWhen you call the image tool, pass the user's request as its prompt as literally as "
    "you can: do not translate, summarise, restyle or reword it unless that is needed for the "
    "tool to work. Text in Korean (or any other language) stays in that language; if a short "
    "English clarification would help, add it after the original words. If the user already "
    "chose a style, do not add style words of your own."
)

DIRECT_SUFFIX = (
    "\n\nUse the user's prompt above, unchanged, as the image tool's prompt: no translation, "
    "no summary, no rewording, no added clarifications or style words."
)

GENERATE_AUTO = "Generate an image: "
GENERATE_DIRECT = "Generate an image with this exact prompt, no modifications: "
EDIT_AUTO = "Edit this image: "
EDIT_DIRECT = "Edit this image with this exact prompt, no modifications: "


def text_prompt(prompt: str, operation: str, mode: str, research_suffix: str,
                search_on: bool = False) -> str:
    """The user-message text for ``operation`` (generate|edit) in ``mode`` (auto|direct).

    generate/auto adds the research suffix; edit/auto adds it only with search on; direct edit
    is used for edits with search on in direct mode too (docs/API.md §7.5).
    """
    if operation == "edit":
        if mode == "direct":
            return EDIT_DIRECT + prompt + DIRECT_SUFFIX
        return EDIT_AUTO + prompt + (research_suffix if search_on else "") + AUTO_SUFFIX
    if mode == "direct":
        return GENERATE_DIRECT + prompt + DIRECT_SUFFIX
    return GENERATE_AUTO + prompt + research_suffix + AUTO_SUFFIX
