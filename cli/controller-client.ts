// Reading the controller's admin endpoint (/healthz, /status, /debug/model, /api/dashboard):
// JSON read as unknown, with one-line errors that say what to check.
import { WeftError, errorMessage } from '#core/errors.ts';

export async function fetchText(url: string): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new WeftError('WEFT_ERR_CONTROLLER', `cannot reach ${url}: ${errorMessage(err)}`, {
      hint: 'is the controller running? its admin address is printed by the demo; on Kubernetes, kubectl port-forward -n istio-system deploy/weft-controller 15014',
      cause: err,
    });
  }
  return { status: res.status, text: await res.text() };
}

/** The JSON at `url`; undefined on 404 when `optional` (an endpoint this controller does not serve). */
export async function getJson(url: string, options: { optional?: boolean } = {}): Promise<unknown> {
  const { status, text } = await fetchText(url);
  if (status === 404 && options.optional === true) return undefined;
  if (status !== 200) throw new WeftError('WEFT_ERR_CONTROLLER', `${url}: HTTP ${status}: ${text.trim().slice(0, 200)}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new WeftError('WEFT_ERR_CONTROLLER', `${url}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
}

export function adminUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}
