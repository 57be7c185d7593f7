// Version distribution of one engine as a plain SVG bar chart: a handful of bars needs no charting
// library. Bars are ordered by version; the newest catalog version is marked.
import { compareVersions } from '../../../src/domain/versions.ts';

export function VersionChart({ engine, counts, newest }: { engine: string; counts: Map<string, number>; newest: string | null }) {
  const rows = [...counts.entries()].sort((a, b) => compareVersions(b[0], a[0]));
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const rowH = 22;
  const labelW = 150;
  const barW = 150;
  const height = rows.length * rowH;
  const total = rows.reduce((s, [, n]) => s + n, 0);
  return (
    <figure className="chart">
      <figcaption>
        <strong>{engine}</strong>
        <span className="muted">
          {total} target{total === 1 ? '' : 's'}
          {newest ? ` · newest ${newest}` : ''}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${labelW + barW + 40} ${height}`}
        width="100%"
        height={height}
        role="img"
        aria-label={`${engine}: ${rows.map(([v, n]) => `${n} on ${v}`).join(', ')}`}
        preserveAspectRatio="xMinYMin meet"
      >
        {rows.map(([version, n], i) => {
          const w = Math.max(3, (n / max) * barW);
          const current = version === newest;
          return (
            <g key={version} transform={`translate(0 ${i * rowH})`}>
              <text x={labelW - 8} y={rowH / 2} dominantBaseline="central" textAnchor="end" className="chart-label">
                {version.length > 22 ? `${version.slice(0, 21)}…` : version}
              </text>
              <rect x={labelW} y={4} width={w} height={rowH - 8} rx={3} className={current ? 'bar bar-newest' : 'bar'} />
              <text x={labelW + w + 6} y={rowH / 2} dominantBaseline="central" className="chart-value">
                {n}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
