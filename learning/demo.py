"""Demo content for `manage.py seed_demo`: "Biology 101" taught by `teacher`,
with `student` enrolled, two courses, published lessons, decks of real biology
cards (some with diagrams drawn here with Pillow) and a personal deck for the
student. Idempotent: what exists is left alone."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw, ImageFont

from learning import services
from learning.demo_audio import term_audio
from learning.models import Card, Classroom, Deck, Enrollment
from lms.demo import DemoUsers

# --- diagrams -----------------------------------------------------------------------

INK, BLUE, GREEN, RED, ORANGE, PURPLE = "#1d2433", "#3457d5", "#1f8a4c", "#c53030", "#b7791f", "#6b46c1"


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _png(draw_on: Callable[[ImageDraw.ImageDraw], None], size: tuple[int, int] = (480, 300)) -> bytes:
    image = Image.new("RGB", size, "white")
    draw_on(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _animal_cell(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((30, 30, 450, 270), outline=INK, width=4, fill="#fff8e6")
    d.ellipse((180, 100, 290, 200), outline=PURPLE, width=3, fill="#e9e0fb")
    d.ellipse((215, 130, 250, 165), fill=PURPLE)
    for box in ((80, 80, 150, 115), (320, 190, 390, 225)):
        d.ellipse(box, outline=RED, width=3, fill="#fde8e8")
        x0, y0, x1, y1 = box
        d.line(
            [
                (x0 + 8, (y0 + y1) // 2),
                (x0 + 20, y0 + 8),
                (x0 + 32, y1 - 8),
                (x0 + 44, y0 + 8),
                (x1 - 8, (y0 + y1) // 2),
            ],
            fill=RED,
            width=2,
        )
    for x in range(90, 170, 20):
        d.arc((x, 190, x + 30, 230), 180, 360, fill=BLUE, width=3)
    for x, y in ((330, 90), (350, 120), (120, 160), (300, 60)):
        d.ellipse((x, y, x + 8, y + 8), fill=GREEN)
    f = _font(15)
    d.text((185, 210), "nucleus", fill=PURPLE, font=f)
    d.text((60, 58), "mitochondrion", fill=RED, font=f)
    d.text((80, 235), "endoplasmic reticulum", fill=BLUE, font=f)
    d.text((340, 60), "ribosomes", fill=GREEN, font=f)
    d.text((330, 240), "cell membrane", fill=INK, font=f)
    d.text((10, 5), "Animal cell", fill=INK, font=_font(18))


def _mitosis(d: ImageDraw.ImageDraw) -> None:
    titles = ["Prophase", "Metaphase", "Anaphase", "Telophase"]
    for i, title in enumerate(titles):
        x = 10 + i * 117
        d.ellipse((x, 60, x + 108, 230), outline=INK, width=3)
        d.text((x + 14, 250), title, fill=INK, font=_font(16))
        cx = x + 54
        if i == 0:
            for dx, dy in ((-20, -20), (15, -10), (-10, 25), (20, 30)):
                d.line([(cx + dx - 8, 145 + dy - 10), (cx + dx + 8, 145 + dy + 10)], fill=BLUE, width=5)
                d.line([(cx + dx + 8, 145 + dy - 10), (cx + dx - 8, 145 + dy + 10)], fill=RED, width=5)
        elif i == 1:
            d.line([(cx, 70), (cx, 220)], fill="#9aa3b5", width=1)
            for dy in (-45, -15, 15, 45):
                d.line([(cx - 10, 145 + dy), (cx + 10, 145 + dy)], fill=BLUE, width=6)
        elif i == 2:
            for dy in (-30, 0, 30):
                d.line([(cx - 35, 145 + dy), (cx - 20, 145 + dy)], fill=BLUE, width=6)
                d.line([(cx + 20, 145 + dy), (cx + 35, 145 + dy)], fill=RED, width=6)
        else:
            d.line([(x + 5, 145), (x + 103, 145)], fill=INK, width=2)
            d.ellipse((cx - 25, 80, cx + 25, 125), outline=PURPLE, width=3)
            d.ellipse((cx - 25, 165, cx + 25, 210), outline=PURPLE, width=3)
    d.text((10, 10), "Stages of mitosis", fill=INK, font=_font(20))


def _dna(d: ImageDraw.ImageDraw) -> None:
    pairs = [
        ("A", "T", RED, BLUE),
        ("G", "C", GREEN, ORANGE),
        ("T", "A", BLUE, RED),
        ("C", "G", ORANGE, GREEN),
        ("A", "T", RED, BLUE),
    ]
    d.line([(120, 50), (120, 280)], fill=INK, width=6)
    d.line([(360, 50), (360, 280)], fill=INK, width=6)
    f = _font(20)
    for i, (left, right, lc, rc) in enumerate(pairs):
        y = 65 + i * 45
        d.rectangle((125, y, 238, y + 18), fill=lc)
        d.rectangle((242, y, 355, y + 18), fill=rc)
        d.text((95, y - 3), left, fill=lc, font=f)
        d.text((372, y - 3), right, fill=rc, font=f)
    d.text((10, 10), "DNA base pairing: A–T and G–C", fill=INK, font=_font(20))
    d.text((60, 282), "sugar-phosphate backbone", fill=INK, font=_font(13))


def _punnett(d: ImageDraw.ImageDraw) -> None:
    f = _font(22)
    d.text((10, 10), "Bb × Bb", fill=INK, font=_font(22))
    x0, y0, s = 170, 60, 100
    for i in range(3):
        d.line([(x0, y0 + i * s), (x0 + 2 * s, y0 + i * s)], fill=INK, width=3)
        d.line([(x0 + i * s, y0), (x0 + i * s, y0 + 2 * s)], fill=INK, width=3)
    d.text((x0 + 40, y0 - 32), "B", fill=BLUE, font=f)
    d.text((x0 + 140, y0 - 32), "b", fill=RED, font=f)
    d.text((x0 - 30, y0 + 38), "B", fill=BLUE, font=f)
    d.text((x0 - 30, y0 + 138), "b", fill=RED, font=f)
    for (col, row), text in {(0, 0): "BB", (1, 0): "Bb", (0, 1): "Bb", (1, 1): "bb"}.items():
        d.text((x0 + col * s + 32, y0 + row * s + 38), text, fill=INK, font=f)
    d.text((20, 272), "Ratio 1 BB : 2 Bb : 1 bb  →  3 dominant : 1 recessive", fill=INK, font=_font(15))


DIAGRAMS = {"cell": _animal_cell, "mitosis": _mitosis, "dna": _dna, "punnett": _punnett}

# --- content ------------------------------------------------------------------------

# (front, back, tags, diagram or "")
ORGANELLES = [
    ("What is the <b>cell</b>?", "The smallest unit of life that can live on its own.", "cells basics", "cell"),
    ("Nucleus", "Holds the cell's DNA and controls gene expression.", "cells organelles", "cell"),
    (
        "Mitochondrion",
        "Makes ATP by aerobic respiration — the cell's power station.",
        "cells organelles energy",
        "cell",
    ),
    ("Ribosome", "Builds proteins by translating mRNA.", "cells organelles protein", ""),
    (
        "Rough endoplasmic reticulum",
        "Membranes studded with ribosomes; makes and folds proteins for export.",
        "cells organelles protein",
        "",
    ),
    ("Smooth endoplasmic reticulum", "Makes lipids and detoxifies drugs; no ribosomes.", "cells organelles", ""),
    ("Golgi apparatus", "Modifies, sorts and packages proteins into vesicles.", "cells organelles protein", ""),
    ("Lysosome", "Vesicle of digestive enzymes that breaks down waste and worn-out parts.", "cells organelles", ""),
    (
        "Chloroplast",
        "Site of photosynthesis in plant cells; contains chlorophyll.",
        "cells organelles plants energy",
        "",
    ),
    ("Cell wall", "Rigid layer outside the membrane of plant cells, made of <i>cellulose</i>.", "cells plants", ""),
    ("Large central vacuole", "Stores water and keeps plant cells firm (turgor).", "cells plants", ""),
    ("Cell membrane", "Phospholipid bilayer that controls what enters and leaves the cell.", "cells membranes", "cell"),
    (
        "Prokaryote vs eukaryote",
        "Prokaryotes (bacteria, archaea) have no nucleus; eukaryotes have a nucleus and membrane-bound organelles.",
        "cells basics",
        "",
    ),
    (
        "Cytoskeleton",
        "Network of protein fibres (microtubules, actin) that shapes the cell and moves things in it.",
        "cells organelles",
        "",
    ),
    (
        "Cell theory (3 parts)",
        "<ol><li>All living things are made of cells.</li><li>The cell is the basic unit of life.</li><li>All cells come from existing cells.</li></ol>",
        "cells basics history",
        "",
    ),
    ("Who first described cells (1665)?", "Robert Hooke, looking at cork through a microscope.", "cells history", ""),
]
DIVISION = [
    ("Mitosis produces…", "Two genetically identical diploid daughter cells.", "division mitosis", "mitosis"),
    ("Prophase", "Chromosomes condense and the nuclear envelope breaks down.", "division mitosis", "mitosis"),
    ("Metaphase", "Chromosomes line up on the cell's equator (metaphase plate).", "division mitosis", "mitosis"),
    ("Anaphase", "Sister chromatids are pulled to opposite poles.", "division mitosis", "mitosis"),
    ("Telophase", "Nuclear envelopes re-form around the two sets of chromosomes.", "division mitosis", ""),
    ("Cytokinesis", "Division of the cytoplasm into two cells.", "division", ""),
    ("Interphase", "The cell grows and copies its DNA (G1, S, G2) between divisions.", "division cycle", ""),
    ("S phase", "The phase of interphase in which DNA is replicated.", "division cycle dna", ""),
    ("Meiosis produces…", "Four genetically different haploid gametes.", "division meiosis", ""),
    (
        "Crossing over",
        "Exchange of DNA between homologous chromosomes in prophase I of meiosis.",
        "division meiosis genetics",
        "",
    ),
    (
        "Homologous chromosomes",
        "A pair of chromosomes, one from each parent, carrying the same genes.",
        "division meiosis",
        "",
    ),
    (
        "Diploid (2n) vs haploid (n)",
        "Diploid cells have two sets of chromosomes; haploid cells (gametes) have one.",
        "division meiosis",
        "",
    ),
    ("How many chromosomes in a human body cell?", "46 (23 pairs).", "division humans", ""),
    (
        "Checkpoint proteins",
        "Stop the cell cycle if DNA is damaged; failures can lead to cancer.",
        "division cycle",
        "",
    ),
]
TRANSPORT = [
    (
        "Diffusion",
        "Net movement of particles from high to low concentration; no energy needed.",
        "membranes transport",
        "",
    ),
    ("Osmosis", "Diffusion of water across a partially permeable membrane.", "membranes transport water", ""),
    (
        "Active transport",
        "Moving substances against their concentration gradient using ATP.",
        "membranes transport energy",
        "",
    ),
    ("Facilitated diffusion", "Passive transport through channel or carrier proteins.", "membranes transport", ""),
    (
        "Sodium–potassium pump",
        "Pumps 3 Na<sup>+</sup> out and 2 K<sup>+</sup> in per ATP.",
        "membranes transport energy",
        "",
    ),
    (
        "Hypotonic solution",
        "Lower solute concentration outside: water enters and animal cells may burst.",
        "membranes water",
        "",
    ),
    (
        "Hypertonic solution",
        "Higher solute concentration outside: water leaves and cells shrink.",
        "membranes water",
        "",
    ),
    ("Endocytosis", "The membrane folds inward to take material into the cell.", "membranes transport", ""),
    ("Exocytosis", "Vesicles fuse with the membrane to release their contents outside.", "membranes transport", ""),
    (
        "Fluid mosaic model",
        "The membrane is a fluid phospholipid bilayer with proteins floating in it.",
        "membranes",
        "",
    ),
]
MOLECULAR = [
    ("DNA stands for…", "Deoxyribonucleic acid.", "dna basics", ""),
    ("The four DNA bases", "Adenine, thymine, guanine, cytosine.", "dna bases", "dna"),
    ("Base pairing rules", "A pairs with T (2 hydrogen bonds); G pairs with C (3 hydrogen bonds).", "dna bases", "dna"),
    ("Shape of DNA", "A double helix of two antiparallel strands.", "dna structure", "dna"),
    (
        "Who described the double helix (1953)?",
        "James Watson and Francis Crick, using Rosalind Franklin's X-ray data.",
        "dna history",
        "",
    ),
    ("Nucleotide", "Sugar + phosphate + nitrogenous base: the building block of DNA and RNA.", "dna structure", ""),
    (
        "RNA differs from DNA by…",
        "Ribose sugar, uracil instead of thymine, and usually a single strand.",
        "rna dna",
        "",
    ),
    ("Transcription", "Copying a gene's DNA into mRNA, in the nucleus.", "expression rna", ""),
    ("Translation", "Ribosomes read mRNA and build a protein.", "expression protein", ""),
    ("Codon", "Three mRNA bases that code for one amino acid.", "expression code", ""),
    ("Start codon", "AUG (methionine).", "expression code", ""),
    ("DNA replication is…", "Semi-conservative: each new helix keeps one old strand.", "dna replication", ""),
    ("Enzyme that copies DNA", "DNA polymerase.", "dna replication enzymes", ""),
    ("Mutation", "A change in the DNA sequence, e.g. a substitution, insertion or deletion.", "dna mutation", ""),
]
INHERITANCE = [
    (
        "Gene vs allele",
        "A gene is a stretch of DNA for a trait; alleles are its different versions.",
        "genetics basics",
        "",
    ),
    ("Genotype vs phenotype", "Genotype: the alleles you carry. Phenotype: the trait you show.", "genetics basics", ""),
    ("Homozygous", "Two identical alleles of a gene (BB or bb).", "genetics", ""),
    ("Heterozygous", "Two different alleles of a gene (Bb).", "genetics", "punnett"),
    ("Dominant allele", "Shows its effect even with one copy.", "genetics", ""),
    ("Recessive allele", "Shows its effect only with two copies.", "genetics", ""),
    (
        "Bb × Bb offspring ratio",
        "3 : 1 dominant to recessive phenotypes (1 BB : 2 Bb : 1 bb).",
        "genetics punnett",
        "punnett",
    ),
    ("Father of genetics", "Gregor Mendel, who crossed pea plants in the 1860s.", "genetics history", ""),
    ("Law of segregation", "The two alleles of a gene separate into different gametes.", "genetics mendel", ""),
    ("Sex chromosomes in humans", "XX female, XY male; the father's sperm decides the sex.", "genetics humans", ""),
]
EVOLUTION = [
    (
        "Natural selection",
        "Individuals better suited to their environment survive and reproduce more.",
        "evolution",
        "",
    ),
    ("Who proposed natural selection?", "Charles Darwin and Alfred Russel Wallace (1858).", "evolution history", ""),
    ("Adaptation", "An inherited trait that improves survival or reproduction.", "evolution", ""),
    ("Species", "A group that can interbreed to produce fertile offspring.", "evolution", ""),
    (
        "Homologous structures",
        "Similar structures from a common ancestor, e.g. human arm and bat wing.",
        "evolution evidence",
        "",
    ),
    (
        "Antibiotic resistance",
        "Bacteria with resistance survive treatment and multiply — selection in action.",
        "evolution bacteria",
        "",
    ),
    ("Fossil record", "Preserved remains that show how life changed over time.", "evolution evidence", ""),
    ("Genetic drift", "Random changes in allele frequencies, strongest in small populations.", "evolution", ""),
]
STUDENT_DECK = [
    (
        "Photosynthesis equation",
        "6CO<sub>2</sub> + 6H<sub>2</sub>O → C<sub>6</sub>H<sub>12</sub>O<sub>6</sub> + 6O<sub>2</sub>",
        "plants energy",
    ),
    (
        "Respiration equation",
        "C<sub>6</sub>H<sub>12</sub>O<sub>6</sub> + 6O<sub>2</sub> → 6CO<sub>2</sub> + 6H<sub>2</sub>O + ATP",
        "energy",
    ),
    ("Enzyme", "A protein that speeds up a reaction without being used up.", "enzymes"),
    ("Active site", "The part of an enzyme where the substrate binds.", "enzymes"),
    ("Denaturation", "Loss of an enzyme's shape (and function) from heat or extreme pH.", "enzymes"),
    ("Homeostasis", "Keeping the internal environment stable.", "physiology"),
    ("Xylem vs phloem", "Xylem carries water up; phloem carries sugars both ways.", "plants"),
    (
        "Mnemonic for classification",
        "<i>King Philip Came Over For Good Soup</i>: kingdom, phylum, class, order, family, genus, species.",
        "classification",
    ),
]

LESSONS = {
    "Cells and Life": (
        "How cells are built, how they divide and how things cross their membranes.",
        [
            (
                "Cell structure",
                "## Inside a cell\n\nEvery living thing is made of **cells**. Eukaryotic cells keep their DNA in a "
                "*nucleus* and divide work between **organelles**:\n\n- the *mitochondria* release energy,\n"
                "- the *ribosomes* build proteins,\n- the *Golgi apparatus* packages them.\n\n"
                "Plant cells add a cell wall, chloroplasts and a large vacuole.",
                "Organelles",
                ORGANELLES,
            ),
            (
                "Cell division",
                "## Mitosis and meiosis\n\n**Mitosis** makes two identical cells for growth and repair. "
                "**Meiosis** makes four different gametes for sexual reproduction.\n\n"
                "Remember the order of mitosis: *Prophase, Metaphase, Anaphase, Telophase* (PMAT).",
                "Mitosis and meiosis",
                DIVISION,
            ),
            (
                "Membranes and transport",
                "## Crossing the membrane\n\nSmall molecules **diffuse**; water moves by **osmosis**; "
                "cells spend ATP on **active transport** to move things uphill.",
                "Membrane transport",
                TRANSPORT,
            ),
        ],
    ),
    "Genetics and Evolution": (
        "From the DNA molecule to inheritance and the evolution of species.",
        [
            (
                "DNA and genes",
                "## The molecule of heredity\n\nDNA is a **double helix**; its bases pair A–T and G–C. "
                "Genes are *transcribed* into mRNA and *translated* into proteins.",
                "Molecular genetics",
                MOLECULAR,
            ),
            (
                "Inheritance",
                "## Mendel's peas\n\nAlleles come in pairs, one from each parent. A **Punnett square** predicts "
                "the offspring of a cross.",
                "Mendelian genetics",
                INHERITANCE,
            ),
            (
                "Evolution",
                "## Change over time\n\nPopulations evolve when heritable variation meets **natural selection**.",
                "Natural selection",
                EVOLUTION,
            ),
        ],
    ),
}


# Cards that get a pronunciation clip: front -> what is said.
AUDIO = {
    "Nucleus": "Nucleus",
    "Mitochondrion": "Mitochondrion. Plural: mitochondria.",
    "Golgi apparatus": "Golgi apparatus",
    "Cytokinesis": "Cytokinesis",
    "Meiosis produces…": "Meiosis",
    "Osmosis": "Osmosis",
    "DNA stands for…": "Deoxyribonucleic acid",
    "Heterozygous": "Heterozygous",
    "Denaturation": "Denaturation",
}


def _audio(front: str) -> SimpleUploadedFile | None:
    spoken = AUDIO.get(front)
    if spoken is None:
        return None
    return SimpleUploadedFile("term.wav", term_audio(spoken), content_type="audio/wav")


def _add_missing_audio(deck: Deck, cards: list[tuple]) -> None:
    """Decks seeded before the demo had audio get their clips once: only while
    the deck has no audio at all, so a teacher's later edits are left alone."""
    fronts = [front for front, *_ in cards if front in AUDIO]
    if not fronts or deck.cards.exclude(audio="").exists():
        return
    for card in Card.objects.filter(deck=deck, front__in=fronts, audio=""):
        services.card_update(card=card, audio=_audio(card.front))


def _image(diagram: str) -> SimpleUploadedFile | None:
    if not diagram:
        return None
    return SimpleUploadedFile(f"{diagram}.png", _png(DIAGRAMS[diagram]), content_type="image/png")


def _fill(deck: Deck, cards: list[tuple], user: object) -> None:
    if deck.cards.exists():
        _add_missing_audio(deck, cards)
        return  # seeded before: leave the teacher's edits alone
    for front, back, tags, *rest in cards:
        services.card_create(
            deck=deck,
            front=front,
            back=back,
            tags=tags,
            image=_image(rest[0] if rest else ""),
            audio=_audio(front),
            user=user,
        )


def seed(users: DemoUsers) -> Classroom:
    teacher, student = users.teacher, users.student
    classroom = Classroom.objects.filter(name="Biology 101", teacher=teacher).first()
    if classroom is None:
        classroom = services.classroom_create(
            user=teacher,
            name="Biology 101",
            description="An introduction to cells, genetics and evolution. Study a little every day!",
        )
    Enrollment.objects.get_or_create(classroom=classroom, student=student)

    for course_title, (course_description, lessons) in LESSONS.items():
        course = classroom.courses.filter(title=course_title).first() or services.course_create(
            classroom=classroom, title=course_title, description=course_description
        )
        for index, (lesson_title, body, deck_title, cards) in enumerate(lessons):
            # The last lesson of each course stays a draft, so the demo shows both.
            lesson = course.lessons.filter(title=lesson_title).first() or services.lesson_create(
                course=course,
                title=lesson_title,
                body=body,
                published=index < len(lessons) - 1 or course_title == "Cells and Life",
            )
            deck = lesson.decks.filter(title=deck_title).first() or services.deck_create(
                user=teacher, lesson=lesson, title=deck_title, description=f"Key terms from “{lesson_title}”."
            )
            _fill(deck, cards, teacher)

    personal = Deck.objects.personal_for(student).filter(title="My biology vocabulary").first()
    if personal is None:
        personal = services.deck_create(
            user=student, title="My biology vocabulary", description="Extra terms I want to remember."
        )
    _fill(personal, STUDENT_DECK, student)
    return classroom


__all__ = ["seed"]
