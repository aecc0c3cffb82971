"""Pictures of what a trained model learned, from its sown intermediates and parameters:
attention maps and attention rollout (ViT, DeiT, CaiT), token-mixing weights (MLP-Mixer,
ResMLP) and position-embedding similarity (learned ``pos_embed``).

``mixer-vit show`` (``command.py``) writes them for a workdir; ``view_figures`` /
``view_pngs`` build them from any ``(model, variables, images)``.
"""

from mixer_vit.model_views.attention_maps import patch_attention_maps
from mixer_vit.model_views.position_similarity import position_embedding_similarity
from mixer_vit.model_views.render import render_views, view_figures, view_pngs
from mixer_vit.model_views.rollout import attention_rollout, rollout_patch_map
from mixer_vit.model_views.token_mixing import token_mixing_grid, token_mixing_kernels

__all__ = [
    "attention_rollout",
    "patch_attention_maps",
    "position_embedding_similarity",
    "render_views",
    "rollout_patch_map",
    "token_mixing_grid",
    "token_mixing_kernels",
    "view_figures",
    "view_pngs",
]
