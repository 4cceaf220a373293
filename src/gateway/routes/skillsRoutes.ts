// GET /api/v3/skills and /api/v3/skills/reload: what the FFmpeg in use can do, computed once.
import type { SkillsCache } from '../../actors/supervisor/skills.ts';
import { json, type Route } from '../http.ts';

export function skillsRoutes(skills: SkillsCache): Route[] {
  return [
    {
      method: 'get',
      pattern: '/api/v3/skills',
      summary: 'FFmpeg version, codecs, encoders/decoders, formats, protocols, filters, hwaccels, devices (cached)',
      handler: async () => json(200, await skills.get()),
    },
    {
      method: 'get',
      pattern: '/api/v3/skills/reload',
      summary: 'Probe the FFmpeg binary again and return its skills',
      handler: async () => json(200, await skills.reload()),
    },
  ];
}
