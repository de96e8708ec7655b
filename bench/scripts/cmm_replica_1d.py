"""Float64 PyTorch replica of the CMM semi-dual fitting loop on 1-D targets (bimodal, gaussian).

Reference baseline for docs/experiments.md (bias init and learning-rate study), not part of the library.
Same recipe as CmmFitter: ICNN 32,32 softplus with alpha I + D quadratic term, 512 persistent MALA
particles (5 steps of 0.3), batch 512, semi-dual gradient with damped-Newton conjugate solves, Adam with
cosine decay and clipping at norm 10, data centred and scaled. Run with /usr/bin/python3 (needs torch):
    /usr/bin/python3 bench/scripts/cmm_replica_1d.py --bias 2 --lr 0.1 --seed 1
Prints W1 / noise floor (4000 samples vs fresh target samples) and the mass in the gap |y| < 1.
"""
import torch, numpy as np, math, sys, time, argparse
torch.set_num_threads(1)
ap=argparse.ArgumentParser()
ap.add_argument('--it',type=int,default=400); ap.add_argument('--lr',type=float,default=1e-2); ap.add_argument('--lrf',type=float,default=1e-3)
ap.add_argument('--pinit',type=float,default=0.01); ap.add_argument('--h',type=str,default='32,32'); ap.add_argument('--alpha',type=float,default=0.1)
ap.add_argument('--wscale',type=float,default=1.0); ap.add_argument('--seed',type=int,default=1); ap.add_argument('--P',type=int,default=512)
ap.add_argument('--K',type=int,default=5); ap.add_argument('--tau',type=float,default=0.3); ap.add_argument('--data',default='bimodal')
ap.add_argument('--bias',type=float,default=0.0)
a=ap.parse_args()
torch.manual_seed(a.seed); rng=np.random.default_rng(a.seed)
def target(n,r):
    if a.data=='bimodal':
        s=r.choice([-2.0,2.0],size=n); return s+0.5*r.standard_normal(n)
    if a.data=='gauss': return 1+1.5*r.standard_normal(n)
data=target(2000,rng); mu=data.mean(); sc=data.std(); z=torch.tensor((data-mu)/sc,dtype=torch.float64)
H=[int(x) for x in a.h.split(',')]
sp=torch.nn.functional.softplus
def isp(y): return math.log(math.expm1(y))
class ICNN(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.W=torch.nn.ParameterList([torch.nn.Parameter(a.wscale*torch.randn(h,1,dtype=torch.float64)) for h in H])
        s.b=torch.nn.ParameterList([torch.nn.Parameter(a.bias*torch.randn(h,dtype=torch.float64)) for h in H])
        s.P=torch.nn.ParameterList([torch.nn.Parameter(torch.tensor([[isp(math.exp(0.1*np.random.randn())/H[l-1]) for _ in range(H[l-1])] for _ in range(H[l])],dtype=torch.float64)) for l in range(1,len(H))])
        s.p=torch.nn.Parameter(torch.full((H[-1],),isp(a.pinit/H[-1]),dtype=torch.float64))
        s.D=torch.nn.Parameter(torch.tensor([isp(1-a.alpha)],dtype=torch.float64))
        s.c=torch.nn.Parameter(torch.zeros(1,dtype=torch.float64))
    def forward(s,x):  # x [n]
        x=x[:,None]
        zz=sp(x@s.W[0].T+s.b[0])
        for l in range(1,len(H)): zz=sp(zz@sp(s.P[l-1]).T + x@s.W[l].T+s.b[l])
        return zz@sp(s.p) + 0.5*(a.alpha+sp(s.D))*x[:,0]**2 + s.c*x[:,0]
w=ICNN()
def grad_hess(x):
    x=x.detach().requires_grad_(True); v=w(x); g,=torch.autograd.grad(v.sum(),x,create_graph=True); h,=torch.autograd.grad(g.sum(),x)
    return v.detach(),g.detach(),h.detach()
def gradv(x):
    x=x.detach().requires_grad_(True); v=w(x); g,=torch.autograd.grad(v.sum(),x); return v.detach(),g.detach()
def conj(x,y0,iters=50):
    y=y0.clone()
    for _ in range(iters):
        v,g,h=grad_hess(y); r=g-x
        if r.abs().max()<1e-6: break
        step=-r/h; t=torch.ones_like(y)
        phi=v-x*y
        for _ in range(20):
            yn=y+t*step; vn,_=gradv(yn); ok=(vn-x*yn)<=phi+1e-4*t*r*step
            if ok.all(): break
            t=torch.where(ok,t,t*0.5)
        y=y+t*step
    return y
def mala(x,tau,K):
    v,g=gradv(x); acc=0
    for _ in range(K):
        xp=x-tau*g+math.sqrt(2*tau)*torch.randn_like(x); vp,gp=gradv(xp)
        lq=lambda a_,b_,gb: -((a_-b_+tau*gb)**2)/(4*tau)
        la=-vp+v+lq(x,xp,gp)-lq(xp,x,g); acc_=torch.log(torch.rand_like(x))<la
        x=torch.where(acc_,xp,x); v=torch.where(acc_,vp,v); g=torch.where(acc_,gp,g); acc+=acc_.double().mean().item()
    return x,acc/K
opt=torch.optim.Adam(w.parameters(),lr=a.lr)
X=torch.randn(a.P,dtype=torch.float64); Y=X.clone(); t0=time.time()
for it in range(a.it):
    lr=a.lrf+0.5*(a.lr-a.lrf)*(1+math.cos(math.pi*it/(a.it-1)))
    for gr in opt.param_groups: gr['lr']=lr
    X,acc=mala(X,a.tau,a.K)
    yb=z[torch.randint(0,len(z),(512,))]
    Y=conj(X,Y)
    loss=w(yb).mean()-w(Y.detach()).mean()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(w.parameters(),10); opt.step()
# evaluate
Xs=torch.randn(4000,dtype=torch.float64)
Xs,_=mala(Xs,0.1,400)
Ys=conj(Xs,Xs,100)
s=Ys.numpy()*sc+mu
r2=np.random.default_rng(99); t1=target(4000,r2); t2=target(4000,r2)
W1=np.mean(np.abs(np.sort(s)-np.sort(t1))); fl=np.mean(np.abs(np.sort(t2)-np.sort(t1)))
print(f"{vars(a)} W1/floor {W1/fl:.2f} gap {np.mean(np.abs(s)<1):.3f} latvar {Xs.var().item():.3f} svar {s.var():.2f} p {sp(w.p).sum().item():.3f} Wmax {max(x.abs().max().item() for x in w.W):.2f} time {time.time()-t0:.0f}s", flush=True)
