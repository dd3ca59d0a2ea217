/** ComfyUI 0.3.64's answer to GET /object_info/ImageScale (from the protocol captures). */
export const IMAGE_SCALE_OBJECT_INFO: Record<string, unknown> = {
  ImageScale: {
    input: {
      required: {
        image: ['IMAGE'],
        upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']],
        width: ['INT', { default: 512, min: 0, max: 16384, step: 1 }],
        height: ['INT', { default: 512, min: 0, max: 16384, step: 1 }],
        crop: [['disabled', 'center']],
      },
    },
    input_order: { required: ['image', 'upscale_method', 'width', 'height', 'crop'] },
    output: ['IMAGE'],
    name: 'ImageScale',
    display_name: 'Upscale Image',
  },
};
