// A precheck report: its items (pass / warn / fail), the flighting (SQL replay) statistics and the
// per-phase estimate, as the target and upgrade views show it.
import type { Report, ZoneLayout } from '../api.ts';
import { Badge, Empty, Time } from '../components.tsx';
import { shortDuration } from '../format.ts';

export function PrecheckReport({ report }: { report: Report }) {
  const counts = { pass: 0, warn: 0, fail: 0 };
  for (const i of report.items) counts[i.status]++;
  return (
    <div className="report" data-report={report.id}>
      <div className="report-head">
        <Badge state={report.state} />
        <span>
          to <span className="mono">{report.toVersion}</span>
        </span>
        <span className="muted">
          {counts.pass} passed · {counts.warn} warnings · {counts.fail} failed
        </span>
        <span className="muted">
          <Time iso={report.finishedAt ?? report.createdAt} />
        </span>
      </div>
      {report.items.length === 0 ? (
        <Empty title={report.state === 'running' ? 'The precheck is running' : 'No items'} />
      ) : (
        <div className="table-wrap">
          <table className="table compact" aria-label="Precheck items">
            <thead>
              <tr>
                <th scope="col">Result</th>
                <th scope="col">Check</th>
                <th scope="col">Node</th>
                <th scope="col">Finding</th>
              </tr>
            </thead>
            <tbody>
              {[...report.items]
                .sort((a, b) => rank(a.status) - rank(b.status))
                .map((i, n) => (
                  <tr key={n}>
                    <td>
                      <Badge state={i.status} />
                    </td>
                    <td className="mono">{i.name}</td>
                    <td className="mono">{i.node ?? '-'}</td>
                    <td>{i.message}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
      {report.items
        .filter((i) => i.zones)
        .map((i, n) => (
          <ZoneLayoutTable key={n} layout={i.zones as ZoneLayout} status={i.status} />
        ))}
      <div className="report-extra">
        {report.flighting ? (
          <dl className="facts">
            <div>
              <dt>Flighting: statements replayed</dt>
              <dd>{report.flighting.totalExecuted.toLocaleString()}</dd>
            </div>
            <div>
              <dt>exceptions / incorrect / slow</dt>
              <dd>
                {report.flighting.exceptions} / {report.flighting.incorrect} / {report.flighting.slow}
              </dd>
            </div>
            <div>
              <dt>read speed-up</dt>
              <dd>{report.flighting.dqlSpeedup.toFixed(1)}×</dd>
            </div>
          </dl>
        ) : null}
        {report.estimate ? (
          <dl className="facts" data-testid="precheck-estimate">
            <div>
              <dt title="the driver's own per-phase guess when the precheck ran; the upgrade page's estimate is the live one (learned step durations, waits and windows)">
                Driver's phase estimate at precheck: stop
              </dt>
              <dd>{shortDuration(report.estimate.stopInstanceSeconds * 1000)}</dd>
            </div>
            <div>
              <dt>backup</dt>
              <dd>{shortDuration(report.estimate.backupDataSeconds * 1000)}</dd>
            </div>
            <div>
              <dt>upgrade</dt>
              <dd>{shortDuration(report.estimate.upgradeInstanceSeconds * 1000)}</dd>
            </div>
          </dl>
        ) : null}
      </div>
    </div>
  );
}

/** An AZ migration's zones before and after the move, one row per zone. */
function ZoneLayoutTable({ layout, status }: { layout: ZoneLayout; status: string }) {
  const zones = [...new Set([...Object.keys(layout.before), ...Object.keys(layout.after)])].sort();
  const names = (m: Record<string, string[]>, z: string) => (m[z]?.length ? m[z].join(', ') : '–');
  const count = (m: Record<string, string[]>) => Object.values(m).filter((v) => v.length > 0).length;
  return (
    <div className="table-wrap" data-zone-layout={status}>
      <table className="table compact" aria-label="Zones before and after">
        <caption className="sub">
          Zones: {count(layout.before)} before, {count(layout.after)} after
        </caption>
        <thead>
          <tr>
            <th scope="col">Zone</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {zones.map((z) => (
            <tr key={z} data-zone={z}>
              <td className="mono">{z}</td>
              <td className="mono">{names(layout.before, z)}</td>
              <td className="mono">{names(layout.after, z)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const rank = (s: string) => (s === 'fail' ? 0 : s === 'warn' ? 1 : 2);
