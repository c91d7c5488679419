import type { LayerInfo } from '../../layer/commitLayer.js';
import { addHistory, addLayer } from '../imageConfig.js';
import type { StageState } from '../stageState.js';
import type { StepContext } from '../stepContext.js';

/**
 * Records a filesystem step: a layer when it changed something, otherwise only a history entry
 * with `empty_layer`, as BuildKit does for a RUN or WORKDIR that changes nothing.
 */
export function commitStep(state: StageState, ctx: StepContext, layer: LayerInfo, createdBy: string): StageState {
  const created = ctx.services.created;
  if (layer.empty) {
    return { ...state, config: addHistory(state.config, { createdBy, emptyLayer: true, created }) };
  }
  const descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
  // The CLI's summary names the step behind each layer and lists the biggest files it added.
  ctx.services.progress.emit({ type: 'layer', step: ctx.step, digest: layer.digest, diffID: layer.diffID, size: layer.size, time: Date.now() });
  return {
    ...state,
    layers: [...state.layers, { diffID: layer.diffID, descriptor }],
    config: addHistory(addLayer(state.config, layer.diffID), { createdBy, emptyLayer: false, created }),
  };
}

/**
 * The commit's byte counter as `transfer` events under the step's name. Nothing is shown for a
 * layer archived before the first report is due (the common small step); a big one gets a live
 * counter and a closing event, so the view is never left with a half-finished transfer.
 */
export function commitProgress(ctx: StepContext): (bytes: number, done: boolean) => void {
  const id = `commit:${ctx.step.id}`;
  const label = `#${ctx.step.id} committing layer`;
  let shown = false;
  return (bytes, done) => {
    if (done && !shown) return;
    shown = true;
    ctx.services.progress.emit({ type: 'transfer', id, label, current: bytes, done, time: Date.now() });
  };
}
