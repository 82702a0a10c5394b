"""Finding phrases checked against the words of the sentence they were taken from."""

from __future__ import annotations

import pytest

from radgenome.text.llm.support import unsupported_words


@pytest.mark.parametrize(
    ("phrase", "sentence"),
    [
        ("nodule", "Nodular densities in the right lung."),
        ("ground-glass opacity", "Ground glass opacities are seen."),
        ("pleural effusion", "There is no pleural or pericardial effusion."),
        ("calcification", "Calcific plaques in the aortic arch."),
        ("emphysema", "Emphysematous changes in both lungs."),
        ("atelectasis", "Atelectatic bands at the bases."),
        ("dilatation", "The ascending aorta is dilated."),
        ("masses", "A mass in the left breast."),
        ("thickening of the interlobular septa", "Interlobular septa show thickening."),
        ("lymph nodes", "Lymph node of 8 mm."),
        ("nodule", "Previous sentence: A 5 mm nodule in the right lobe.\nSentence: It has not changed."),
    ],
)
def test_supported(phrase: str, sentence: str) -> None:
    assert unsupported_words(phrase, sentence) == ()


@pytest.mark.parametrize(
    ("phrase", "sentence", "missing"),
    [
        ("pneumothorax", "Findings consistent with pneumonia.", ("pneumothorax",)),
        ("bronchiectasis", "Bronchial wall thickening.", ("bronchiectasis",)),
        ("cardiomegaly", "Cardiac contour is normal.", ("cardiomegaly",)),
        ("pulmonary embolism", "The pulmonary artery is normal.", ("embolism",)),
        ("x" * 40, "A nodule.", ("x" * 40,)),
        ("nodule", "A node in the neck.", ("nodule",)),
    ],
)
def test_unsupported(phrase: str, sentence: str, missing: tuple[str, ...]) -> None:
    assert unsupported_words(phrase, sentence) == missing
