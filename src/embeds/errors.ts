/**
 * Everything that is wrong with a `prompt_embeds` payload (base64, zip, pickle, tensor metadata)
 * surfaces as this one error, so a server can map it to a single 400 without inspecting causes.
 */
export class TorchFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TorchFormatError';
  }
}
