"""A heudiconv heuristic for berth's catalog: BIDS names from each series' description.

Series whose description (or protocol name) mentions dMRI/DWI/diff become dwi, MPRAGE/T1
anat/T1w, T2 anat/T2w, BOLD/fMRI/rest func/task-rest_bold, field maps fmap/epi; localizers and
scouts, derived images and anything else are left out. Runs are numbered per kind in series order.
"""


def create_key(template, outtype=("nii.gz",), annotation_classes=None):
    if not template:
        raise ValueError("Template must be a valid format string")
    return template, outtype, annotation_classes


RULES = [
    # (words that select, key template)
    (("dmri", "dwi", "diff"), "sub-{subject}/dwi/sub-{subject}_run-{item:02d}_dwi"),
    (("mprage", "t1"), "sub-{subject}/anat/sub-{subject}_run-{item:02d}_T1w"),
    (("t2",), "sub-{subject}/anat/sub-{subject}_run-{item:02d}_T2w"),
    (("bold", "fmri", "rest"), "sub-{subject}/func/sub-{subject}_task-rest_run-{item:02d}_bold"),
    (("fmap", "fieldmap", "field_map"), "sub-{subject}/fmap/sub-{subject}_run-{item:02d}_epi"),
]
SKIP = ("localizer", "scout", "aahscout")


def infotodict(seqinfo):
    keys = {template: create_key(template) for _, template in RULES}
    info = {key: [] for key in keys.values()}
    for s in seqinfo:
        text = f"{s.series_description} {s.protocol_name}".lower()
        if any(w in text for w in SKIP) or s.is_derived:
            continue
        for words, template in RULES:
            if any(w in text for w in words):
                info[keys[template]].append(s.series_id)
                break
    return {k: v for k, v in info.items() if v}
